import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { readBigSize } from '../wire/bigsize.js';
import { concat, equalBytes, Reader, xorInto } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';
import {
  cipherStream,
  deriveRouteSecrets,
  ecdh,
  generateKey,
  nextEphemeralPubkey,
  parsePoint,
} from './keys.js';

export const HOP_PAYLOADS_SIZE = 1300;
export const HMAC_SIZE = 32;
export const ONION_PACKET_SIZE = 1 + 33 + HOP_PAYLOADS_SIZE + HMAC_SIZE;

export interface OnionHop {
  pubkey: Uint8Array;
  /** The hop payload as it sits in the onion: BigSize length, then the TLV bytes. */
  payload: Uint8Array;
}

export interface BuiltOnion {
  packet: Uint8Array;
  /** One per hop, in route order: what decrypts failure replies. */
  sharedSecrets: Uint8Array[];
}

/** Bytes the hop payloads of a route take in the 1300-byte area (each payload plus its HMAC). */
export function hopPayloadsSize(payloads: readonly Uint8Array[]): number {
  return payloads.reduce((n, p) => n + p.length + HMAC_SIZE, 0);
}

function filler(sharedSecrets: Uint8Array[], sizes: number[]): Uint8Array {
  const total = sizes.slice(0, -1).reduce((a, b) => a + b, 0);
  const out = new Uint8Array(total);
  let used = 0;
  for (let i = 0; i < sizes.length - 1; i++) {
    const size = sizes[i] as number;
    const stream = cipherStream(generateKey('rho', sharedSecrets[i] as Uint8Array), HOP_PAYLOADS_SIZE + size);
    xorInto(out.subarray(0, used + size), stream.subarray(HOP_PAYLOADS_SIZE - used));
    used += size;
  }
  return out;
}

/** Builds a BOLT 4 onion packet (1366 bytes) for the hops, committing to `associatedData` (the payment hash). */
export function buildOnion(
  hops: readonly OnionHop[],
  sessionKey: Uint8Array,
  associatedData: Uint8Array,
): BuiltOnion {
  if (hops.length === 0) throw new CodecError('invalid-value', 'an onion needs at least one hop');
  const sizes = hops.map((h) => h.payload.length + HMAC_SIZE);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total > HOP_PAYLOADS_SIZE) {
    throw new CodecError(
      'too-large',
      `hop payloads need ${total} bytes with their HMACs; an onion holds ${HOP_PAYLOADS_SIZE}`,
    );
  }
  for (const [i, h] of hops.entries()) {
    const r = new Reader(h.payload, `hop ${i} payload`);
    if (readBigSize(r, `hop ${i} payload length`) !== BigInt(r.remaining)) {
      throw new CodecError('invalid-value', `hop ${i} payload length prefix does not match its size`);
    }
  }
  const { sharedSecrets, ephemeralPubkeys } = deriveRouteSecrets(
    sessionKey,
    hops.map((h) => h.pubkey),
  );
  const fill = filler(sharedSecrets, sizes);
  let mix = cipherStream(generateKey('pad', sessionKey), HOP_PAYLOADS_SIZE);
  let nextHmac = new Uint8Array(HMAC_SIZE);
  for (let i = hops.length - 1; i >= 0; i--) {
    const ss = sharedSecrets[i] as Uint8Array;
    const shifted = new Uint8Array(HOP_PAYLOADS_SIZE);
    shifted.set((hops[i] as OnionHop).payload, 0);
    shifted.set(nextHmac, (hops[i] as OnionHop).payload.length);
    shifted.set(mix.subarray(0, HOP_PAYLOADS_SIZE - (sizes[i] as number)), sizes[i] as number);
    mix = shifted;
    xorInto(mix, cipherStream(generateKey('rho', ss), HOP_PAYLOADS_SIZE));
    if (i === hops.length - 1) mix.set(fill, HOP_PAYLOADS_SIZE - fill.length);
    nextHmac = hmac(sha256, generateKey('mu', ss), concat(mix, associatedData));
  }
  const packet = concat(Uint8Array.of(0), ephemeralPubkeys[0] as Uint8Array, mix, nextHmac);
  return { packet, sharedSecrets };
}

export interface PeeledHop {
  /** The TLV bytes meant for this hop (no length prefix). */
  payload: Uint8Array;
  /** The same with its BigSize length prefix, as lightningd's `onion.payload` shows it. */
  framedPayload: Uint8Array;
  isFinal: boolean;
  /** The packet to pass on (meaningless when `isFinal`). */
  nextOnion: Uint8Array;
  sharedSecret: Uint8Array;
}

/** Peels one layer as the hop holding `nodeSecretKey` would. */
export function peelOnion(
  packet: Uint8Array,
  nodeSecretKey: Uint8Array,
  associatedData: Uint8Array,
): PeeledHop {
  if (packet.length !== ONION_PACKET_SIZE) {
    throw new CodecError(
      'invalid-value',
      `onion packet is ${packet.length} bytes, expected ${ONION_PACKET_SIZE}`,
    );
  }
  if (packet[0] !== 0) throw new CodecError('invalid-value', `onion version ${packet[0]} is not 0`);
  const ephemeral = packet.subarray(1, 34);
  parsePoint(ephemeral, 'onion ephemeral key');
  const hopPayloads = packet.subarray(34, 34 + HOP_PAYLOADS_SIZE);
  const packetHmac = packet.subarray(34 + HOP_PAYLOADS_SIZE);
  const ss = ecdh(nodeSecretKey, ephemeral);
  const expected = hmac(sha256, generateKey('mu', ss), concat(hopPayloads, associatedData));
  if (!equalBytes(expected, packetHmac)) throw new CodecError('bad-hmac', 'onion HMAC does not match');

  const plain = new Uint8Array(2 * HOP_PAYLOADS_SIZE);
  plain.set(hopPayloads);
  xorInto(plain, cipherStream(generateKey('rho', ss), 2 * HOP_PAYLOADS_SIZE));
  const r = new Reader(plain, 'hop payload');
  const length = readBigSize(r, 'hop payload length');
  if (length === 0n)
    throw new CodecError('invalid-value', 'hop payload length 0 (legacy payloads are not supported)');
  if (length > BigInt(HOP_PAYLOADS_SIZE - r.offset - HMAC_SIZE)) {
    throw new CodecError('length-overflow', `hop payload length ${length} exceeds the onion`);
  }
  const payload = r.take(Number(length)).slice();
  const framedPayload = plain.slice(0, r.offset);
  const nextHmac = r.take(HMAC_SIZE);
  const isFinal = nextHmac.every((b) => b === 0);
  const nextOnion = concat(
    Uint8Array.of(0),
    nextEphemeralPubkey(ephemeral, ss),
    r.take(HOP_PAYLOADS_SIZE),
    nextHmac,
  );
  return { payload, framedPayload, isFinal, nextOnion, sharedSecret: ss };
}
