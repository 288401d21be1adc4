import { sha256 } from '@noble/hashes/sha2.js';
import { concat, decodeUint, encodeUint, Reader, toHex } from './bytes.js';
import { CodecError } from './errors.js';
import type { TlvRecord } from './tlv.js';

/**
 * The final-payload records lnmsg reads and writes. The chat ones follow the conventions other
 * message-over-payment tools use; the chunk record is lnmsg's own.
 */
export const RECORD = {
  /** The message (text or bytes); the type is configurable, this is the default. */
  message: 34349334n,
  /** lnmsg: one chunk of a message split over the parts of a multi-part payment. */
  chunk: 34349336n,
  /** Signature by the sender's node key (64 bytes, r||s), see `signedBytes`. */
  signature: 34349337n,
  /** The sender's node id (33 bytes). */
  sender: 34349339n,
  /** When the sender sent it, nanoseconds since 1970 (u64). */
  timestamp: 34349343n,
  /** keysend: the preimage, so a payee with no invoice can settle. */
  keysendPreimage: 5482373484n,
} as const;

/** Every record type above but the message's own: each has its meaning, none may carry the message. */
export const RESERVED_RECORDS: ReadonlySet<bigint> = new Set([
  RECORD.chunk,
  RECORD.signature,
  RECORD.sender,
  RECORD.timestamp,
  RECORD.keysendPreimage,
]);

export interface Chunk {
  /** First 16 bytes of SHA256 of the whole message: names the message and checks its reassembly. */
  messageId: Uint8Array;
  index: number;
  count: number;
  data: Uint8Array;
}

export const CHUNK_HEADER_BYTES = 16 + 2 + 2;

export function encodeChunk(c: Chunk): Uint8Array {
  if (c.messageId.length !== 16) throw new CodecError('invalid-value', 'chunk message id must be 16 bytes');
  if (c.count < 1 || c.count > 0xffff || c.index < 0 || c.index >= c.count) {
    throw new CodecError('invalid-value', `chunk ${c.index} of ${c.count} is out of range`);
  }
  return concat(c.messageId, encodeUint(BigInt(c.index), 2), encodeUint(BigInt(c.count), 2), c.data);
}

export function decodeChunk(value: Uint8Array): Chunk {
  const r = new Reader(value, 'chunk record');
  const messageId = r.take(16, 'chunk message id').slice();
  const index = Number(r.uint(2, 'chunk index'));
  const count = Number(r.uint(2, 'chunk count'));
  if (count === 0 || index >= count)
    throw new CodecError('invalid-value', `chunk ${index} of ${count} is out of range`);
  return { messageId, index, count, data: r.take(r.remaining).slice() };
}

/**
 * What lnmsg signs: sender id | recipient id | payment hash | timestamp (u64 ns) | message. The
 * payment hash binds the signature to this payment: it cannot be replayed onto another one.
 */
export function signedPaymentBytes(
  sender: Uint8Array,
  recipient: Uint8Array,
  paymentHash: Uint8Array,
  timestampNs: bigint,
  message: Uint8Array,
) {
  return concat(sender, recipient, paymentHash, encodeUint(timestampNs, 8), message);
}

/**
 * What other chat-over-Lightning tools (and lnmsg before 0.2) sign: sender id | recipient id |
 * timestamp (u64 ns) | message. It proves who wrote the message to whom, not which payment carried it.
 */
export function signedBytes(
  sender: Uint8Array,
  recipient: Uint8Array,
  timestampNs: bigint,
  message: Uint8Array,
) {
  return concat(sender, recipient, encodeUint(timestampNs, 8), message);
}

/**
 * The text lnmsg hands to `signmessage`: the hex of SHA256(signedBytes). Core Lightning signs
 * text only, and under 64k, so lnmsg signs a digest of any size of message.
 */
export function signedText(signed: Uint8Array): string {
  return toHex(sha256(signed));
}

export function findRecord(records: readonly TlvRecord[], type: bigint): Uint8Array | undefined {
  return records.find((r) => r.type === type)?.value;
}

export function decodeTimestamp(value: Uint8Array): bigint {
  if (value.length !== 8)
    throw new CodecError('invalid-value', `timestamp record is ${value.length} bytes, needs 8`);
  return decodeUint(value);
}
