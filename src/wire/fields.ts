import { secp256k1 } from '@noble/curves/secp256k1.js';
import { decodeUint, encodeUint, Reader } from './bytes.js';
import { CodecError } from './errors.js';
import { decodeTruncated, encodeTruncated } from './truncated.js';

/** One TLV record's value: how to encode it and how to decode it strictly. */
export interface Field<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array, what: string): T;
}

function exact(bytes: Uint8Array, size: number, what: string): void {
  if (bytes.length < size)
    throw new CodecError('truncated', `${what} is ${bytes.length} bytes, needs ${size}`);
  if (bytes.length > size)
    throw new CodecError('length-overflow', `${what} is ${bytes.length} bytes, needs ${size}`);
}

const truncated = (max: 2 | 4 | 8): Field<bigint> => ({
  encode: (v) => encodeTruncated(v, max),
  decode: (b, what) => decodeTruncated(b, max, what),
});

const fixedUint = (width: number): Field<bigint> => ({
  encode: (v) => encodeUint(v, width),
  decode: (b, what) => {
    exact(b, width, what);
    return decodeUint(b);
  },
});

export const tu64 = truncated(8);
export const tu32 = truncated(4);
export const u16 = fixedUint(2);
export const u64 = fixedUint(8);

export const bytesN = (n: number): Field<Uint8Array> => ({
  encode: (v) => {
    exact(v, n, 'value');
    return v;
  },
  decode: (b, what) => {
    exact(b, n, what);
    return b;
  },
});

export const raw: Field<Uint8Array> = { encode: (v) => v, decode: (b) => b };

/** A compressed secp256k1 public key that must be a valid curve point. */
export const point: Field<Uint8Array> = {
  encode: (v) => v,
  decode: (b, what) => {
    exact(b, 33, what);
    try {
      secp256k1.Point.fromBytes(b);
    } catch {
      throw new CodecError('invalid-value', `${what} is not a valid point`);
    }
    return b;
  },
};

/** Several fixed-size fields in a row, filling the value exactly. */
export function sequence<T extends Record<string, unknown>>(parts: {
  [K in keyof T]: [size: number, field: Field<T[K]>];
}): Field<T> {
  const entries = Object.entries(parts) as [keyof T & string, [number, Field<unknown>]][];
  const total = entries.reduce((n, [, [size]]) => n + size, 0);
  return {
    encode: (v) => {
      const out = new Uint8Array(total);
      let off = 0;
      for (const [name, [size, field]] of entries) {
        out.set(field.encode(v[name]), off);
        off += size;
      }
      return out;
    },
    decode: (b, what) => {
      exact(b, total, what);
      const r = new Reader(b, what);
      const out: Record<string, unknown> = {};
      for (const [name, [size, field]] of entries) out[name] = field.decode(r.take(size), `${what}.${name}`);
      return out as T;
    },
  };
}
