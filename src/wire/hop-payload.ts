import { encodeBigSize, readBigSize } from './bigsize.js';
import { concat, Reader } from './bytes.js';
import { CodecError } from './errors.js';
import { bytesN, type Field, raw, tu32, tu64, u64 } from './fields.js';
import { tlvNamespace } from './namespace.js';
import type { TlvRecord } from './tlv.js';
import { decodeTruncated, encodeTruncated } from './truncated.js';

/** Record types from 65536 up are for applications (BOLT 4 custom records). */
export const CUSTOM_RECORD_MIN = 65536n;

export interface PaymentData {
  paymentSecret: Uint8Array;
  totalMsat: bigint;
}

/** payment_data: a 32-byte secret then a tu64 total. */
const paymentData: Field<PaymentData> = {
  encode: (v) => concat(bytesN(32).encode(v.paymentSecret), encodeTruncated(v.totalMsat, 8)),
  decode: (b, what) => {
    if (b.length < 32) throw new CodecError('truncated', `${what} is ${b.length} bytes, needs at least 32`);
    return {
      paymentSecret: b.slice(0, 32),
      totalMsat: decodeTruncated(b.subarray(32), 8, `${what}.total_msat`),
    };
  },
};

/** BOLT 4 `payload` TLV namespace. */
export const hopPayloadTlv = tlvNamespace('payload', {
  amtToForward: [2n, tu64],
  outgoingCltvValue: [4n, tu32],
  shortChannelId: [6n, u64],
  paymentData: [8n, paymentData],
  encryptedRecipientData: [10n, raw],
  currentPathKey: [12n, bytesN(33)],
  paymentMetadata: [16n, raw],
  totalAmountMsat: [18n, tu64],
} as const);

export interface IntermediatePayload {
  amtToForward: bigint;
  outgoingCltvValue: number;
  shortChannelId: bigint;
}

export interface FinalPayload {
  amtToForward: bigint;
  outgoingCltvValue: number;
  paymentData?: PaymentData;
  paymentMetadata?: Uint8Array;
  /** Application records, type >= 65536, any order (sorted on encode). */
  customRecords?: readonly TlvRecord[];
}

export interface DecodedHopPayload {
  amtToForward?: bigint;
  outgoingCltvValue?: number;
  shortChannelId?: bigint;
  paymentData?: PaymentData;
  paymentMetadata?: Uint8Array;
  /** Records of type >= 65536 (even or odd), in wire order. */
  customRecords: TlvRecord[];
  /** Unknown odd records below 65536, kept as BOLT 1 asks. */
  unknownOdd: TlvRecord[];
}

/** TLV bytes of a forwarding hop's payload (no length prefix). */
export function encodeIntermediatePayload(p: IntermediatePayload): Uint8Array {
  return hopPayloadTlv.encode({
    amtToForward: p.amtToForward,
    outgoingCltvValue: BigInt(p.outgoingCltvValue),
    shortChannelId: p.shortChannelId,
  });
}

/** TLV bytes of the final hop's payload (no length prefix). */
export function encodeFinalPayload(p: FinalPayload): Uint8Array {
  for (const rec of p.customRecords ?? []) {
    if (rec.type < CUSTOM_RECORD_MIN) {
      throw new CodecError('invalid-value', `custom record type ${rec.type} is below ${CUSTOM_RECORD_MIN}`);
    }
  }
  return hopPayloadTlv.encode(
    {
      amtToForward: p.amtToForward,
      outgoingCltvValue: BigInt(p.outgoingCltvValue),
      paymentData: p.paymentData,
      paymentMetadata: p.paymentMetadata,
    },
    p.customRecords,
  );
}

/**
 * Decodes a hop payload's TLV bytes (no length prefix). Custom records (>= 65536) are the
 * application's to judge, so by default they are all accepted; pass `acceptCustom` to be strict.
 */
export function decodeHopPayload(
  tlv: Uint8Array,
  acceptCustom: (type: bigint) => boolean = () => true,
): DecodedHopPayload {
  const { values, others } = hopPayloadTlv.decode(tlv, (t) => t >= CUSTOM_RECORD_MIN && acceptCustom(t));
  return {
    amtToForward: values.amtToForward,
    outgoingCltvValue: values.outgoingCltvValue === undefined ? undefined : Number(values.outgoingCltvValue),
    shortChannelId: values.shortChannelId,
    paymentData: values.paymentData,
    paymentMetadata: values.paymentMetadata,
    customRecords: others.filter((r) => r.type >= CUSTOM_RECORD_MIN),
    unknownOdd: others.filter((r) => r.type < CUSTOM_RECORD_MIN),
  };
}

/** Prefixes a payload with its BigSize length, as it sits in the onion. */
export function withLengthPrefix(tlv: Uint8Array): Uint8Array {
  return concat(encodeBigSize(tlv.length), tlv);
}

/** Splits `length || tlv` (as lightningd's `onion.payload` gives it); the length must match exactly. */
export function stripLengthPrefix(framed: Uint8Array): Uint8Array {
  const r = new Reader(framed, 'hop payload');
  const length = readBigSize(r, 'hop payload length');
  if (length === 0n)
    throw new CodecError('invalid-value', 'hop payload length 0 (legacy payloads are not supported)');
  if (length > BigInt(r.remaining)) {
    throw new CodecError('truncated', `hop payload says ${length} bytes, ${r.remaining} present`);
  }
  if (length < BigInt(r.remaining)) {
    throw new CodecError('length-overflow', `hop payload says ${length} bytes, ${r.remaining} present`);
  }
  return r.take(Number(length));
}
