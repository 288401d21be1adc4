import { encodeUint, Reader } from './bytes.js';
import { CodecError } from './errors.js';

const U64_MAX = (1n << 64n) - 1n;

/** BOLT 1 BigSize: 1, 3, 5 or 9 bytes, big-endian. */
export function encodeBigSize(value: bigint | number): Uint8Array {
  const v = BigInt(value);
  if (v < 0n || v > U64_MAX) throw new CodecError('invalid-value', `bigsize ${v} is outside u64`);
  if (v < 0xfdn) return Uint8Array.of(Number(v));
  if (v < 0x10000n) return prefixed(0xfd, v, 2);
  if (v < 0x100000000n) return prefixed(0xfe, v, 4);
  return prefixed(0xff, v, 8);
}

function prefixed(marker: number, v: bigint, width: number): Uint8Array {
  const out = new Uint8Array(1 + width);
  out[0] = marker;
  out.set(encodeUint(v, width), 1);
  return out;
}

export function bigSizeLength(value: bigint | number): number {
  const v = BigInt(value);
  return v < 0xfdn ? 1 : v < 0x10000n ? 3 : v < 0x100000000n ? 5 : 9;
}

/** Reads one BigSize, rejecting non-minimal encodings. */
export function readBigSize(r: Reader, what = 'bigsize'): bigint {
  const first = r.uint(1, what);
  if (first < 0xfdn) return first;
  const width = first === 0xfdn ? 2 : first === 0xfen ? 4 : 8;
  const v = r.uint(width, what);
  const min = width === 2 ? 0xfdn : width === 4 ? 0x10000n : 0x100000000n;
  if (v < min) throw new CodecError('non-minimal', `${what} ${v} is not minimally encoded`);
  return v;
}

/** Decodes a BigSize at the start of `bytes`; returns the value and how many bytes it used. */
export function decodeBigSize(bytes: Uint8Array): { value: bigint; length: number } {
  const r = new Reader(bytes, 'bigsize');
  const value = readBigSize(r);
  return { value, length: r.offset };
}
