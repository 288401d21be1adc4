/** `npm run bench`: prints figures, asserts nothing. */
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function timeEach(runs: number, fn: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

const HOPS = 20;
const keys = Array.from({ length: HOPS }, () => secp256k1.utils.randomSecretKey());
const message = randomBytes(maxMessageBytes(HOPS - 1, { senderHop: true }));
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

console.log(`lnmsg bench (node ${process.version}, ${HOPS}-hop onion, ${message.length}-byte message)`);
console.log(`build 20-hop onion          median ${median(builds).toFixed(2)} ms`);
console.log(`peel all 20 layers          median ${median(peels).toFixed(2)} ms`);
console.log(`peel one layer              median ${median(onePeel).toFixed(3)} ms`);
console.log(
  `TLV stream decode           ${Math.round(tlvOps).toLocaleString('en-US')} ops/s (${finalTlv.length}-byte final payload)`,
);
console.log(`hop payload decode          ${Math.round(payloadOps).toLocaleString('en-US')} ops/s`);
