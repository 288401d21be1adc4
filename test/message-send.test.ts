import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { HOP_PAYLOADS_SIZE, hopPayloadsSize } from '../src/onion/sphinx.js';
import type { LightningRpc } from '../src/cln/rpc.js';
import { sendMessage } from '../src/send/message.js';
import { type SendError, Sender } from '../src/send/sender.js';
import { fromHex, toHex } from '../src/wire/bytes.js';
import { decodeHopPayload, stripLengthPrefix } from '../src/wire/hop-payload.js';
import { decodeChunk, RECORD } from '../src/wire/message-records.js';
import { DEFAULT_MESSAGE_TLV_TYPE, maxMessageBytes } from '../src/index.js';
import { FIXTURES, recordedAnswer, rpcRecord } from './support/fake-lightningd.js';
import { payerNodeForEachTest } from './support/payer.js';
import { v26066Record, v26066Reply } from './support/recorded-v26066.js';
import { needsShared } from './support/shared.js';

/**
 * sendmessage's sizing on the recorded 2-channel route (node 1 -> 2 -> 3 at block 108, 5000 msat):
 * a message in one HTLC up to the route's limit, and above it pieces that each fill their onion.
 */
const RUN = 'sendonion-success';

/** sendmessage of `message` to the recorded payment's payee and hash. */
function sendTo(
  rpc: LightningRpc,
  sender: Sender,
  message: Uint8Array,
  o: { maxParts?: number; retryForSeconds?: number } = {},
) {
  const routes = rpcRecord(`${RUN}/getroutes`).request.params as { destination: string; amount_msat: number };
  return sendMessage(rpc, sender, {
    destination: routes.destination,
    paymentHash: (rpcRecord(`${RUN}/createonion`).request.params as { assocdata: string }).assocdata,
    amountMsat: routes.amount_msat,
    message,
    tlvType: DEFAULT_MESSAGE_TLV_TYPE,
    sign: false,
    retryForSeconds: o.retryForSeconds ?? 0,
    maxFeeMsat: 100_000,
    maxParts: o.maxParts ?? 128,
  });
}

describe('sendmessage sizes messages to the route (recorded replies)', needsShared(...FIXTURES), () => {
  const node = payerNodeForEachTest();
  beforeEach(() => {
    for (const m of ['getroutes', 'createonion', 'sendonion', 'waitsendpay'])
      node.fake.replyWith(m, `${RUN}/${m}`);
  });
  const send = (message: Uint8Array, maxParts = 128) =>
    sendTo(node.rpc, new Sender(node.rpc), message, { maxParts });
  /** The onions the sender asked lightningd to build: each one's hop payloads. */
  const onions = () =>
    node.fake.requests
      .filter((r) => r.method === 'createonion')
      .map((r) => (r.params as { hops: { payload: string }[] }).hops.map((h) => fromHex(h.payload)));
  // 5000 msat and CLTV values near 127 (block 108, + 1, + 18): the payload field widths on the recorded route.
  const LIMIT = maxMessageBytes(2, { amountMsat: 5000n, blockheight: 127 });

  test('exactly the limit goes in one HTLC, every onion byte used', async () => {
    assert.equal(LIMIT, 1200);
    const r = await send(randomBytes(LIMIT));
    assert.equal(r.parts.length, 1);
    const [hops] = onions();
    assert.equal(hopPayloadsSize(hops as Uint8Array[]), HOP_PAYLOADS_SIZE);
  });

  test('one byte more: refused with max_parts=1, naming the largest size, nothing sent', async () => {
    const err = (await send(randomBytes(LIMIT + 1), 1).then(
      () => assert.fail('does not fit'),
      (e: unknown) => e,
    )) as SendError;
    assert.equal(err.kind, 'too-large');
    assert.match(err.message, new RegExp(`at most ${LIMIT} bytes`));
    assert.ok(!node.fake.requests.some((r) => r.method === 'sendonion'));
  });

  test('above the limit: pieces that fill their onions, covering the message exactly once', async () => {
    const message = randomBytes(10_000);
    const r = await send(message);
    const pieces = onions().map((hops) => {
      const final = decodeHopPayload(stripLengthPrefix(hops.at(-1) as Uint8Array));
      const value = final.customRecords.find((x) => x.type === RECORD.chunk)?.value as Uint8Array;
      return { size: hopPayloadsSize(hops), chunk: decodeChunk(value) };
    });
    assert.equal(pieces.length, r.parts.length);
    pieces.sort((a, b) => a.chunk.offset - b.chunk.offset);
    let next = 0;
    for (const p of pieces) {
      assert.equal(p.chunk.offset, next, 'contiguous, no overlap');
      assert.equal(p.chunk.total, message.length);
      assert.equal(
        toHex(p.chunk.data),
        toHex(message.subarray(p.chunk.offset, p.chunk.offset + p.chunk.data.length)),
      );
      next += p.chunk.data.length;
    }
    assert.equal(next, message.length);
    // Every piece but the last fills its onion to the byte: none is made small in advance.
    for (const p of pieces.slice(0, -1)) assert.equal(p.size, HOP_PAYLOADS_SIZE);
    assert.equal(pieces.length, Math.ceil((message.length + 16) / (pieces[1]?.chunk.data.length ?? 1)));
  });
});

/** Askrene, as a send that fails at node 2 uses it (test/fixtures/cln-v26.06.6). */
const ASKRENE = 'askrene-getroutes.jsonl';

describe(
  'getinfo: one answer serves every send; the height then comes from block_added (recorded replies)',
  needsShared(...FIXTURES),
  () => {
    const node = payerNodeForEachTest();
    beforeEach(() => {
      for (const m of ['getroutes', 'createonion', 'sendonion', 'waitsendpay'])
        node.fake.replyWith(m, `${RUN}/${m}`);
      mock.timers.enable({ apis: ['Date'], now: 1_790_000_000_000 });
    });
    afterEach(() => mock.timers.reset());
    const getinfos = () => node.fake.requests.filter((r) => r.method === 'getinfo').length;
    const message = () => randomBytes(100);

    test('sends at once share one getinfo; later sends, an hour on, ask none', async () => {
      const sender = new Sender(node.rpc);
      await Promise.all([1, 2, 3].map(() => sendTo(node.rpc, sender, message())));
      assert.equal(getinfos(), 1);
      mock.timers.tick(3_600_000);
      await sendTo(node.rpc, sender, message());
      assert.equal(getinfos(), 1);
    });

    test('after a failed attempt getinfo is asked afresh', async () => {
      // Node 2 knew no next channel (recorded), then the retry goes through.
      let waits = 0;
      node.fake.handle('waitsendpay', (req) =>
        waits++ === 0
          ? v26066Reply('sendonion-intermediate-failures.jsonl', 'fail-unknown-next-scid/waitsendpay')(req)
          : recordedAnswer(`${RUN}/waitsendpay`, req.id),
      );
      node.fake.handle('askrene-create-layer', v26066Reply(ASKRENE, 'hint/askrene-create-layer'));
      node.fake.handle('askrene-update-channel', v26066Reply(ASKRENE, 'askrene-update-channel-disable'));
      node.fake.handle('askrene-remove-layer', v26066Reply(ASKRENE, 'askrene-remove-layer'));
      assert.equal(
        (
          v26066Record('sendonion-intermediate-failures.jsonl', 'fail-unknown-next-scid/waitsendpay').reply
            .error?.data as { erring_index: number }
        ).erring_index,
        1,
      );
      const r = await sendTo(node.rpc, new Sender(node.rpc), message(), { retryForSeconds: 60 });
      assert.equal(r.parts[0]?.attempts, 2);
      assert.equal(getinfos(), 2);
    });
  },
);
