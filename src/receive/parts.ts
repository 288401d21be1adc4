import { timingSafeEqual } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcRef, KeptRecord } from '../store/messages.js';
import { toHex } from '../wire/bytes.js';
import type { DecodedHopPayload } from '../wire/hop-payload.js';
import { decodeChunk, RECORD } from '../wire/message-records.js';
import type { TlvRecord } from '../wire/tlv.js';
import type { Part } from './message-set.js';

/** One HTLC as a part of its message: a chunk of a multi-part message, or the whole of a single one. */
export function partOf(
  htlc: HtlcRef,
  payload: DecodedHopPayload,
  chunkValue: Uint8Array | undefined,
  messageBytes: Uint8Array | undefined,
): Part<DecodedHopPayload> {
  const totalMsat = payload.paymentData?.totalMsat ?? 0n;
  if (chunkValue) {
    const { token, ...c } = decodeChunk(chunkValue);
    return { htlc, ...c, secret: token, totalMsat, context: payload };
  }
  const data = messageBytes as Uint8Array;
  return {
    htlc,
    offset: 0,
    total: data.length,
    data,
    messageId: sha256(data).subarray(0, 16),
    secret: payload.paymentData?.paymentSecret ?? new Uint8Array(0),
    totalMsat,
    context: payload,
  };
}

/** Whether the HTLC carries this payment secret (compared in constant time). */
export function sameSecret(payload: DecodedHopPayload, secret: Uint8Array): boolean {
  const given = payload.paymentData?.paymentSecret;
  return given !== undefined && given.length === 32 && secret.length === 32 && timingSafeEqual(given, secret);
}

/** A keysend's preimage, if the payload carries one that hashes to `paymentHash`. */
export function keysendPreimage(payload: DecodedHopPayload, paymentHash: string): Uint8Array | undefined {
  const preimage = payload.customRecords.find((r) => r.type === RECORD.keysendPreimage)?.value;
  return preimage?.length === 32 && toHex(sha256(preimage)) === paymentHash ? preimage : undefined;
}

/** A payment's custom records as kept: all but lnmsg's message and pieces (kept as the message) and a keysend's preimage. */
export function keptRecords(records: readonly TlvRecord[], tlvType: bigint): KeptRecord[] {
  return records
    .filter((r) => r.type !== tlvType && r.type !== RECORD.chunk && r.type !== RECORD.keysendPreimage)
    .map((r) => ({ type: r.type.toString(), value: toHex(r.value) }));
}
