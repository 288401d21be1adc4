import { decodeTlvStream, encodeTlvStream } from './tlv.js';

/**
 * A TLV stream without the records `drop` names, byte for byte otherwise (a stream that decodes
 * is canonical, so encoding what is left gives back its exact bytes). Throws CodecError on a
 * stream that does not decode.
 */
export function withoutRecords(tlv: Uint8Array, drop: (type: bigint) => boolean): Uint8Array {
  return encodeTlvStream(decodeTlvStream(tlv, { isKnown: () => true }).filter((r) => !drop(r.type)));
}
