import { encodeBigSize, readBigSize } from './bigsize.js';
import { concat, Reader } from './bytes.js';
import { CodecError } from './errors.js';

export interface TlvRecord {
  type: bigint;
  value: Uint8Array;
}

export interface TlvDecodeOptions {
  /** Types the caller understands; an even type it does not know is an error (BOLT 1 "it's OK to be odd"). */
  isKnown?: (type: bigint) => boolean;
}

/** Decodes a TLV stream: strictly increasing types, minimal BigSizes, lengths within the input. */
export function decodeTlvStream(bytes: Uint8Array, opts: TlvDecodeOptions = {}): TlvRecord[] {
  const r = new Reader(bytes, 'tlv stream');
  const records: TlvRecord[] = [];
  let last = -1n;
  while (r.remaining > 0) {
    const type = readBigSize(r, 'tlv type');
    const length = readBigSize(r, `tlv ${type} length`);
    if (length > BigInt(r.remaining)) {
      throw new CodecError('truncated', `tlv ${type} value: length ${length}, ${r.remaining} bytes left`);
    }
    const value = r.take(Number(length));
    if (type === last) throw new CodecError('duplicate', `tlv type ${type} appears twice`);
    if (type < last) throw new CodecError('out-of-order', `tlv type ${type} after ${last}`);
    last = type;
    if (type % 2n === 0n && !(opts.isKnown?.(type) ?? false)) {
      throw new CodecError('unknown-even-type', `tlv type ${type} is even and not understood`);
    }
    records.push({ type, value });
  }
  return records;
}

export function encodeTlvRecord(record: TlvRecord): Uint8Array {
  return concat(encodeBigSize(record.type), encodeBigSize(record.value.length), record.value);
}

/** Encodes records that must already be in strictly increasing type order. */
export function encodeTlvStream(records: readonly TlvRecord[]): Uint8Array {
  let last = -1n;
  for (const { type } of records) {
    if (type === last) throw new CodecError('duplicate', `tlv type ${type} given twice`);
    if (type < last) throw new CodecError('out-of-order', `tlv type ${type} after ${last}`);
    last = type;
  }
  return concat(...records.map(encodeTlvRecord));
}

/** Bytes one record takes on the wire. */
export function tlvRecordSize(type: bigint, valueLength: number): number {
  return encodeBigSize(type).length + encodeBigSize(valueLength).length + valueLength;
}
