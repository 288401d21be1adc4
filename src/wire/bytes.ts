import { CodecError } from './errors.js';

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Strict hex: even length, hex digits only. `what` names the field in the error. */
export function fromHex(hex: string, what = 'hex'): Uint8Array {
  if (!HEX.test(hex)) throw new CodecError('invalid-value', `${what} is not even-length hex`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** Index of `needle` in `haystack`, or -1. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  if (needle.length === 0) return 0;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export function xorInto(target: Uint8Array, stream: Uint8Array): void {
  const n = Math.min(target.length, stream.length);
  for (let i = 0; i < n; i++) target[i] = (target[i] as number) ^ (stream[i] as number);
}

/** Fixed-width big-endian unsigned integer of `width` bytes. */
export function encodeUint(value: bigint, width: number): Uint8Array {
  if (value < 0n || value >= 1n << BigInt(8 * width)) {
    throw new CodecError('invalid-value', `${value} does not fit in ${width} bytes`);
  }
  const out = new Uint8Array(width);
  let v = value;
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function decodeUint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** A cursor over bytes that throws `truncated` instead of reading past the end. */
export class Reader {
  offset = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly what = 'input',
  ) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  take(n: number, what = this.what): Uint8Array {
    if (n > this.remaining) {
      throw new CodecError('truncated', `${what}: needs ${n} bytes, ${this.remaining} left`);
    }
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  uint(width: number, what = this.what): bigint {
    return decodeUint(this.take(width, what));
  }
}

export const utf8 = {
  encode: (text: string): Uint8Array => new TextEncoder().encode(text),
  /** Throws on invalid UTF-8 rather than inserting replacement characters; a leading BOM is kept, as any character. */
  decode: (bytes: Uint8Array): string =>
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes),
};
