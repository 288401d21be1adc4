import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, encodeUint, equalBytes, Reader, xorInto } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';
import { cipherStream, generateKey } from './keys.js';

/** BOLT 4 failure_code flags. */
export const BADONION = 0x8000;
export const PERM = 0x4000;
export const NODE = 0x2000;
export const UPDATE = 0x1000;

export const FAILURE_CODES: Readonly<Record<number, string>> = {
  [NODE | 2]: 'temporary_node_failure',
  [PERM | NODE | 2]: 'permanent_node_failure',
  [PERM | NODE | 3]: 'required_node_feature_missing',
  [BADONION | PERM | 4]: 'invalid_onion_version',
  [BADONION | PERM | 5]: 'invalid_onion_hmac',
  [BADONION | PERM | 6]: 'invalid_onion_key',
  [UPDATE | 7]: 'temporary_channel_failure',
  [PERM | 8]: 'permanent_channel_failure',
  [PERM | 9]: 'required_channel_feature_missing',
  [PERM | 10]: 'unknown_next_peer',
  [UPDATE | 11]: 'amount_below_minimum',
  [UPDATE | 12]: 'fee_insufficient',
  [UPDATE | 13]: 'incorrect_cltv_expiry',
  [UPDATE | 14]: 'expiry_too_soon',
  [PERM | 15]: 'incorrect_or_unknown_payment_details',
  18: 'final_incorrect_cltv_expiry',
  19: 'final_incorrect_htlc_amount',
  [UPDATE | 20]: 'channel_disabled',
  21: 'expiry_too_far',
  [PERM | 22]: 'invalid_onion_payload',
  23: 'mpp_timeout',
  [BADONION | PERM | 24]: 'invalid_onion_blinding',
};

export function failureCodeName(code: number): string {
  return FAILURE_CODES[code] ?? `unknown_failure_0x${code.toString(16).padStart(4, '0')}`;
}

/**
 * incorrect_or_unknown_payment_details (0x400F) with htlc_msat and the current block height, and
 * `extra` bytes after them (which a payer that does not know them ignores, BOLT 4).
 */
export function incorrectOrUnknownPaymentDetails(
  htlcMsat: bigint,
  blockHeight: number,
  extra: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return concat(
    encodeUint(BigInt(PERM | 15), 2),
    encodeUint(htlcMsat, 8),
    encodeUint(BigInt(blockHeight), 4),
    extra,
  );
}

/** The erring node's reply: HMAC'd with `um`, padded to hide the message length, obfuscated with `ammag`. */
export function createFailureReply(
  sharedSecret: Uint8Array,
  failureMessage: Uint8Array,
  padTo = 256,
): Uint8Array {
  const padLength = Math.max(0, padTo - failureMessage.length);
  const body = concat(
    encodeUint(BigInt(failureMessage.length), 2),
    failureMessage,
    encodeUint(BigInt(padLength), 2),
    new Uint8Array(padLength),
  );
  return wrapFailureReply(sharedSecret, concat(hmac(sha256, generateKey('um', sharedSecret), body), body));
}

/** What each hop on the way back does: XOR with its `ammag` stream. */
export function wrapFailureReply(sharedSecret: Uint8Array, reply: Uint8Array): Uint8Array {
  const out = reply.slice();
  xorInto(out, cipherStream(generateKey('ammag', sharedSecret), out.length));
  return out;
}

export interface DecryptedFailure {
  /** Index into the route's hops (the order of the shared secrets) of the node that failed. */
  hopIndex: number;
  failureMessage: Uint8Array;
  code: number;
  codeName: string;
}

/** The origin's side: peel the reply hop by hop until one hop's `um` HMAC authenticates it. */
export function decryptFailureReply(
  sharedSecrets: readonly Uint8Array[],
  reply: Uint8Array,
): DecryptedFailure {
  if (reply.length < 32 + 2 + 2)
    throw new CodecError('truncated', `failure reply is only ${reply.length} bytes`);
  let packet = reply;
  for (const [hopIndex, ss] of sharedSecrets.entries()) {
    packet = wrapFailureReply(ss, packet);
    const body = packet.subarray(32);
    if (!equalBytes(hmac(sha256, generateKey('um', ss), body), packet.subarray(0, 32))) continue;
    const r = new Reader(body, 'failure reply');
    const len = Number(r.uint(2, 'failure_len'));
    const failureMessage = r.take(len, 'failuremsg').slice();
    if (failureMessage.length < 2) throw new CodecError('truncated', 'failure message has no failure code');
    const code = ((failureMessage[0] as number) << 8) | (failureMessage[1] as number);
    return { hopIndex, failureMessage, code, codeName: failureCodeName(code) };
  }
  throw new CodecError('bad-hmac', `failure reply authenticates to none of the ${sharedSecrets.length} hops`);
}

export interface FailureMessage {
  code: number;
  codeName: string;
  /** incorrect_or_unknown_payment_details, amount_below_minimum, fee_insufficient, final_incorrect_htlc_amount. */
  htlcMsat?: bigint;
  /** incorrect_or_unknown_payment_details: the payee's block height. */
  height?: number;
  /** The channel_update some UPDATE failures carry. */
  channelUpdate?: Uint8Array;
  /** incorrect_or_unknown_payment_details: bytes after its fields (an lnmsg payee's refusal). */
  trailing?: Uint8Array;
}

/** Parses a BOLT 4 failure message far enough to act on it; other trailing bytes are ignored. */
export function decodeFailureMessage(message: Uint8Array): FailureMessage {
  const r = new Reader(message, 'failure message');
  const code = Number(r.uint(2, 'failure_code'));
  const out: FailureMessage = { code, codeName: failureCodeName(code) };
  const update = () => {
    const len = Number(r.uint(2, 'channel_update length'));
    out.channelUpdate = r.take(len, 'channel_update').slice();
  };
  if (code === (PERM | 15) && r.remaining > 0) {
    out.htlcMsat = r.uint(8, 'htlc_msat');
    if (r.remaining > 0) out.height = Number(r.uint(4, 'height'));
    if (r.remaining > 0) out.trailing = r.take(r.remaining).slice();
  } else if (code === (UPDATE | 11) || code === (UPDATE | 12)) {
    out.htlcMsat = r.uint(8, 'htlc_msat');
    update();
  } else if (code === 19) {
    out.htlcMsat = r.uint(8, 'htlc_msat');
  } else if (code === (UPDATE | 7) || code === (UPDATE | 14)) {
    if (r.remaining > 0) update();
  } else if (code === (UPDATE | 13)) {
    r.uint(4, 'cltv_expiry');
    update();
  } else if (code === (UPDATE | 20)) {
    r.uint(2, 'disabled_flags');
    update();
  }
  return out;
}
