import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { buildOnion, CodecError, decodeHopPayload, maxMessageBytes } from '../src/index.js';
import { messageRoute, peelAll, randomNodes } from './support/route.js';

const cases = [
  { label: 'defaults (1,000,000 msat, height 900,000)', amountMsat: 1_000_000n, cltv: 900_000 },
  { label: 'regtest-sized (1000 msat, height 130)', amountMsat: 1000n, cltv: 130 },
  { label: 'large amount (2^40 msat)', amountMsat: 1n << 40n, cltv: 900_000 },
];

for (const c of cases) {
  for (const senderHop of [true, false]) {
    describe(`capacity, ${c.label}, ${senderHop ? 'with' : 'without'} the sender's own hop`, () => {
      for (let hops = 1; hops <= 20; hops++) {
        test(`${hops} hops`, () => {
          const opts = { amountMsat: c.amountMsat, blockheight: c.cltv, senderHop, tlvType: 34349334n };
          const max = maxMessageBytes(hops, opts);
          assert.ok(max > 0, 'some bytes fit');
          const nodes = randomNodes(hops + (senderHop ? 1 : 0));
          const hash = randomBytes(32);
          const route = (size: number) =>
            messageRoute(nodes, randomBytes(size), {
              tlvType: 34349334n,
              amountMsat: c.amountMsat,
              cltv: c.cltv,
            });

          const fits = route(max);
          const { packet } = buildOnion(fits, randomBytes(32), hash);
          const last = peelAll(packet, nodes, hash).at(-1);
          assert.ok(last?.isFinal);
          const record = decodeHopPayload(last.payload).customRecords[0];
          assert.equal(record?.value.length, max);

          assert.throws(
            () => buildOnion(route(max + 1), randomBytes(32), hash),
            (e) => e instanceof CodecError && e.reason === 'too-large' && /onion holds 1300/.test(e.message),
          );
        });
      }
    });
  }
}

test('matches what a real node accepted: 1200 bytes over 2 channels with sendonion (OBSERVED.md)', () => {
  assert.equal(maxMessageBytes(2, { amountMsat: 1000n, blockheight: 132, senderHop: false }), 1200);
});
