import { sha256 } from '@noble/hashes/sha2.js';
import {
  concat,
  decodeTlvStream,
  encodeTlvRecord,
  encodeTruncated,
  RECORD,
  type TlvRecord,
  toHex,
} from '../../src/index.js';

/** The payload types lightningd's tlv_payload knows (its `meta` fields): the keysend plugin keeps them. */
const KNOWN = new Set([2n, 4n, 6n, 8n, 10n, 12n, 16n, 18n]);

/**
 * lightningd's keysend plugin (plugins/keysend.c, v26.06.6), after lnmsg in the hook chain: a
 * payload with a 32-byte preimage record hashing to the payment hash becomes an invoice of that
 * preimage (`makeInvoice` returns its secret, or undefined when the hash already has one); it then
 * strips every unknown even record and adds payment_data. Anything else goes on unchanged.
 */
export function keysendPlugin(
  tlv: Uint8Array,
  paymentHash: string,
  makeInvoice: (preimage: Uint8Array) => Uint8Array | undefined,
): Uint8Array {
  let fields: TlvRecord[];
  try {
    fields = decodeTlvStream(tlv, { isKnown: () => true });
  } catch {
    return tlv;
  }
  const preimage = fields.find((f) => f.type === RECORD.keysendPreimage)?.value;
  const amount = fields.find((f) => f.type === 2n)?.value;
  if (!preimage || !amount || preimage.length !== 32 || toHex(sha256(preimage)) !== paymentHash) return tlv;
  const secret = makeInvoice(preimage);
  // The `invoice` call failed: "continue, but don't change it: it will fail".
  if (!secret) return tlv;
  const kept = fields.filter((f) => f.type % 2n === 1n || KNOWN.has(f.type));
  const total = amount.length === 0 ? 0n : BigInt(`0x${toHex(amount)}`);
  const paymentData = { type: 8n, value: concat(secret, encodeTruncated(total, 8)) };
  const sorted = [...kept, paymentData].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  // Written as the plugin writes it: a payer's own payment_data would now be there twice, which lightningd refuses.
  return concat(...sorted.map(encodeTlvRecord));
}
