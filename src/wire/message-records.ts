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
  /**
   * lnmsg: one piece of a message split over the parts of a multi-part payment, by byte offset
   * (see `Chunk`). Even: a payee that cannot reassemble refuses the part. lnmsg 0.1 used
   * 34349336 with an index and a count instead; that form is not read any more.
   */
  chunk: 34349338n,
  /** Signature by the sender's node key (64 bytes, r||s), see `signedBytes`. */
  signature: 34349337n,
  /** The sender's node id (33 bytes). */
  sender: 34349339n,
  /** When the sender sent it, nanoseconds since 1970 (u64). */
  timestamp: 34349343n,
  /** The sender's name, UTF-8 (read and shown; lnmsg does not write it). */
  senderName: 34349340n,
  /** The message's content type, UTF-8 such as "text/plain" (read and shown; lnmsg does not write it). */
  contentType: 34349345n,
  /** keysend: the preimage, so a payee with no invoice can settle. */
  keysendPreimage: 5482373484n,
} as const;

/**
 * The records above lnmsg writes, but the message's own: each has its meaning, none may carry the
 * message. (The receiver also accepts these when even, so the read-only ones stay out.)
 */
export const RESERVED_RECORDS: ReadonlySet<bigint> = new Set([
  RECORD.chunk,
  RECORD.signature,
  RECORD.sender,
  RECORD.timestamp,
  RECORD.keysendPreimage,
]);

/**
 * A piece of a message: `total` bytes in all, this one's `data` at `offset`. The payer's random
 * `token` ties the parts of one message together (a node on the route knows the payment hash but
 * cannot read the token). The piece at offset 0 also names the whole message by `messageId`, the
 * first 16 bytes of its SHA256, which checks the reassembly.
 */
export interface Chunk {
  token: Uint8Array;
  offset: number;
  total: number;
  messageId?: Uint8Array;
  data: Uint8Array;
}

export const CHUNK_TOKEN_BYTES = 8;
/** Bytes of a chunk's value before its data: token, offset, total (and the id at offset 0). */
export const chunkHeaderBytes = (offset: number) => CHUNK_TOKEN_BYTES + 4 + 4 + (offset === 0 ? 16 : 0);

export function encodeChunk(c: Chunk): Uint8Array {
  if (c.token.length !== CHUNK_TOKEN_BYTES)
    throw new CodecError('invalid-value', 'chunk token must be 8 bytes');
  if ((c.offset === 0) !== (c.messageId?.length === 16))
    throw new CodecError('invalid-value', 'the chunk at offset 0, and only it, carries a 16-byte message id');
  checkRange(c.offset, c.data.length, c.total);
  return concat(
    c.token,
    encodeUint(BigInt(c.offset), 4),
    encodeUint(BigInt(c.total), 4),
    c.messageId ?? new Uint8Array(0),
    c.data,
  );
}

export function decodeChunk(value: Uint8Array): Chunk {
  const r = new Reader(value, 'chunk record');
  const token = r.take(CHUNK_TOKEN_BYTES, 'chunk token').slice();
  const offset = Number(r.uint(4, 'chunk offset'));
  const total = Number(r.uint(4, 'chunk total'));
  const messageId = offset === 0 ? r.take(16, 'chunk message id').slice() : undefined;
  const data = r.take(r.remaining).slice();
  checkRange(offset, data.length, total);
  return { token, offset, total, ...(messageId ? { messageId } : {}), data };
}

function checkRange(offset: number, length: number, total: number): void {
  if (length === 0 || offset + length > total)
    throw new CodecError(
      'invalid-value',
      `chunk of ${length} bytes at ${offset} does not fit a ${total}-byte message`,
    );
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
