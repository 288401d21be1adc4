import { utf8 } from './bytes.js';
import { CodecError } from './errors.js';
import { decodeTlvStream, encodeTlvStream, type TlvRecord } from './tlv.js';

/**
 * Why an lnmsg payee refused an HTLC, as a TLV stream after the fields of
 * `incorrect_or_unknown_payment_details`. BOLT 4: the origin node "MUST ignore any extra bytes in
 * failuremsg", so other payers read the standard failure, and an lnmsg payer reads the cause.
 */
export const REFUSAL_RECORD = { cause: 34349401n, reason: 34349403n } as const;

export const REFUSAL_CAUSES = [
  'unknown_hash',
  'expired',
  'already_paid',
  'amount_too_low',
  'too_large',
  'refused',
  'no_spontaneous',
  'storage_full',
  'malformed',
  'expiry_too_soon',
] as const;
export type RefusalCause = (typeof REFUSAL_CAUSES)[number];

export interface Refusal {
  cause: RefusalCause;
  /** The payee's words (a decider's or operator's reason, or the limit that was hit). */
  reason?: string;
}

/** Reasons travel in a failure reply padded to 256 bytes: keep them short. */
export const REFUSAL_REASON_BYTES = 120;

export function encodeRefusal(r: Refusal): Uint8Array {
  const records: TlvRecord[] = [
    { type: REFUSAL_RECORD.cause, value: Uint8Array.of(REFUSAL_CAUSES.indexOf(r.cause) + 1) },
  ];
  if (r.reason)
    records.push({ type: REFUSAL_RECORD.reason, value: truncateUtf8(r.reason, REFUSAL_REASON_BYTES) });
  return encodeTlvStream(records);
}

/** The refusal in a failure message's trailing bytes, or undefined if they hold none (or garbage). */
export function decodeRefusal(trailing: Uint8Array): Refusal | undefined {
  try {
    const records = decodeTlvStream(trailing);
    const code = records.find((x) => x.type === REFUSAL_RECORD.cause)?.value;
    const cause = code?.length === 1 ? REFUSAL_CAUSES[(code[0] as number) - 1] : undefined;
    if (!cause) return undefined;
    const reason = records.find((x) => x.type === REFUSAL_RECORD.reason)?.value;
    return { cause, ...(reason ? { reason: new TextDecoder().decode(reason) } : {}) };
  } catch (e) {
    if (e instanceof CodecError) return undefined;
    throw e;
  }
}

/** At most `max` bytes of `text`'s UTF-8, never cutting a character in two. */
function truncateUtf8(text: string, max: number): Uint8Array {
  const bytes = utf8.encode(text);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
