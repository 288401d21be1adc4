import { CodecError } from './errors.js';

const SCID = /^(\d+)x(\d+)x(\d+)$/;

/** `BLOCKxTXxOUT` to its u64 (3 bytes block, 3 bytes tx index, 2 bytes output). */
export function scidFromString(text: string): bigint {
  const m = SCID.exec(text);
  if (!m) throw new CodecError('invalid-value', `short_channel_id "${text}" is not BLOCKxTXxOUT`);
  const [block, tx, out] = [BigInt(m[1] as string), BigInt(m[2] as string), BigInt(m[3] as string)];
  if (block >= 1n << 24n || tx >= 1n << 24n || out >= 1n << 16n) {
    throw new CodecError('invalid-value', `short_channel_id "${text}" has a part out of range`);
  }
  return (block << 40n) | (tx << 16n) | out;
}

export function scidToString(scid: bigint): string {
  if (scid < 0n || scid >= 1n << 64n)
    throw new CodecError('invalid-value', `short_channel_id ${scid} is not a u64`);
  return `${scid >> 40n}x${(scid >> 16n) & 0xffffffn}x${scid & 0xffffn}`;
}
