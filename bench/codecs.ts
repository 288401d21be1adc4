/** Codec figures: Sphinx build and peel of a 20-hop onion, TLV and hop payload decoding. */
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  buildOnion,
  decodeHopPayload,
  decodeTlvStream,
  encodeFinalPayload,
  encodeIntermediatePayload,
  maxMessageBytes,
  type OnionHop,
  peelOnion,
  stripLengthPrefix,
  withLengthPrefix,
} from '../src/index.js';
import { fmt, int, median, timeEach } from './stats.js';

/** Rows of [what, figure]. */
export function codecFigures(): [string, string][] {
  const HOPS = 20;
  const keys = Array.from({ length: HOPS }, () => secp256k1.utils.randomSecretKey());
  // All 20 payloads are in the onion: 19 forwarding hops and the payee, as maxMessageBytes(20) counts.
  const message = randomBytes(maxMessageBytes(HOPS));
  const hops: OnionHop[] = keys.map((k, i) => ({
    pubkey: secp256k1.getPublicKey(k, true),
    payload: withLengthPrefix(
      i < HOPS - 1
        ? encodeIntermediatePayload({
            amtToForward: 1_000_000n,
            outgoingCltvValue: 900_000,
            shortChannelId: BigInt(i + 1) << 40n,
          })
        : encodeFinalPayload({
            amtToForward: 1_000_000n,
            outgoingCltvValue: 900_000,
            customRecords: [{ type: 34349334n, value: message }],
          }),
    ),
  }));
  const assoc = randomBytes(32);

  const builds = timeEach(50, () => buildOnion(hops, randomBytes(32), assoc));
  const { packet } = buildOnion(hops, randomBytes(32), assoc);
  const peels = timeEach(50, () => {
    let p = packet;
    for (const k of keys) p = peelOnion(p, k, assoc).nextOnion;
  });
  const onePeel = timeEach(200, () => peelOnion(packet, keys[0] as Uint8Array, assoc));

  const finalTlv = stripLengthPrefix((hops.at(-1) as OnionHop).payload);
  const N = 50_000;
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) decodeTlvStream(finalTlv, { isKnown: () => true });
  const tlvOps = N / (Number(process.hrtime.bigint() - t) / 1e9);
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) decodeHopPayload(finalTlv);
  const payloadOps = N / (Number(process.hrtime.bigint() - t) / 1e9);

  return [
    [`build ${HOPS}-hop onion (${message.length}-byte message)`, `median ${fmt(median(builds))}`],
    [`peel all ${HOPS} layers`, `median ${fmt(median(peels))}`],
    ['peel one layer', `median ${fmt(median(onePeel), 3)}`],
    [`TLV stream decode (${finalTlv.length}-byte final payload)`, `${int(tlvOps)} ops/s`],
    ['hop payload decode', `${int(payloadOps)} ops/s`],
  ];
}
