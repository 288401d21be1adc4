import { decodeUint, encodeUint } from './bytes.js';
import { CodecError } from './errors.js';

/** BOLT 1 truncated integers (tu16/tu32/tu64): big-endian, no leading zero bytes. */
export function encodeTruncated(value: bigint | number, maxBytes: 2 | 4 | 8): Uint8Array {
  const v = BigInt(value);
  if (v < 0n || v >= 1n << BigInt(8 * maxBytes)) {
    throw new CodecError('invalid-value', `${v} does not fit in tu${8 * maxBytes}`);
  }
  return encodeUint(v, truncatedLength(v));
}

export function truncatedLength(value: bigint | number): number {
  let v = BigInt(value);
  let n = 0;
  while (v > 0n) {
    n++;
    v >>= 8n;
  }
  return n;
}

export function decodeTruncated(bytes: Uint8Array, maxBytes: 2 | 4 | 8, what = `tu${8 * maxBytes}`): bigint {
  if (bytes.length > maxBytes) {
    throw new CodecError('length-overflow', `${what} is ${bytes.length} bytes, at most ${maxBytes}`);
  }
  if (bytes.length > 0 && bytes[0] === 0) {
    throw new CodecError('non-minimal', `${what} has a leading zero byte`);
  }
  return decodeUint(bytes);
}
