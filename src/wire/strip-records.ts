import { CUSTOM_RECORD_MIN } from './hop-payload.js';
import { RECORD } from './message-records.js';
import { decodeTlvStream, encodeTlvStream } from './tlv.js';

/**
 * The even records lnmsg reads, which lightningd refuses as unknown: the message record (when its
 * configured type is even) and the chunk record.
 */
export function lnmsgEvenRecords(messageType: bigint): ReadonlySet<bigint> {
  return new Set([messageType, RECORD.chunk].filter((t) => t % 2n === 0n));
}

/**
 * A hop payload's TLV bytes (no length prefix: htlc_accepted's `continue` takes `payload` so, and
 * lightningd prepends the length) without the records of `types`, every other byte as it was, so
 * lightningd can parse the rest. Throws CodecError if `payload` is not a TLV stream.
 */
export function stripRecords(payload: Uint8Array, types: ReadonlySet<bigint>): Uint8Array {
  if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
  for (const t of types) {
    // below 65536 are BOLT 4's own fields: taking one out would change the payment, not tidy it
    if (typeof t !== 'bigint' || t < CUSTOM_RECORD_MIN) {
      throw new RangeError(`only custom records (>= ${CUSTOM_RECORD_MIN}) are stripped, not ${String(t)}`);
    }
  }
  // every even type is let through: those not stripped are lightningd's to judge
  const records = decodeTlvStream(payload, { isKnown: () => true });
  return encodeTlvStream(records.filter((r) => !types.has(r.type)));
}
