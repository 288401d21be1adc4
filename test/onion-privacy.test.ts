import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { buildOnion, decodeHopPayload, indexOfBytes, utf8 } from '../src/index.js';
import { messageRoute, peelAll, randomNodes } from './support/route.js';

test('5-hop onion: only the last hop can read the message', () => {
  const nodes = randomNodes(5);
  const message = utf8.encode('meet me at the usual place at 9, bring the swap preimage');
  const hash = randomBytes(32);
  const { packet } = buildOnion(
    messageRoute(nodes, message, { tlvType: 34349334n, amountMsat: 5000n, cltv: 800_000 }),
    randomBytes(32),
    hash,
  );
  assert.equal(indexOfBytes(packet, message), -1, 'the message is not in the clear in the packet');
  const peeled = peelAll(packet, nodes, hash);
  for (const [i, hop] of peeled.slice(0, -1).entries()) {
    assert.equal(hop.isFinal, false, `hop ${i} forwards`);
    assert.equal(indexOfBytes(hop.payload, message), -1, `hop ${i} payload lacks the message`);
    assert.equal(indexOfBytes(hop.nextOnion, message), -1, `hop ${i} sees no message in what it passes on`);
    assert.ok(decodeHopPayload(hop.payload).shortChannelId !== undefined);
  }
  const final = peeled.at(-1);
  assert.ok(final?.isFinal);
  const decoded = decodeHopPayload(final.payload);
  assert.deepEqual(decoded.customRecords, [{ type: 34349334n, value: message }]);
});
