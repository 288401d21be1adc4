import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';
import { HOP_PAYLOADS_SIZE, hopPayloadsSize } from '../src/onion/sphinx.js';
import { sendMessage } from '../src/send/message.js';
import { type SendError, Sender } from '../src/send/sender.js';
import { fromHex, toHex } from '../src/wire/bytes.js';
import { decodeHopPayload, stripLengthPrefix } from '../src/wire/hop-payload.js';
import { decodeChunk, RECORD } from '../src/wire/message-records.js';
import { DEFAULT_MESSAGE_TLV_TYPE, maxMessageBytes } from '../src/index.js';
import { FIXTURES, resultLike, rpcRecord } from './support/fake-lightningd.js';
import { payerNodeForEachTest } from './support/payer.js';
import { needsShared } from './support/shared.js';

/**
 * sendmessage's sizing on the recorded 2-channel route (node 1 -> 2 -> 3 at block 108, 5000 msat):
 * a message in one HTLC up to the route's limit, and above it pieces that each fill their onion.
 */
const RUN = 'sendonion-success';

describe('sendmessage sizes messages to the route (recorded replies)', needsShared(...FIXTURES), () => {
  const node = payerNodeForEachTest();
  beforeEach(() => {
    const { fake } = node;
    // Nothing paid to this hash yet (the recorded list, as it stood before).
    fake.handle('listsendpays', (req) => resultLike('listsendpays', req.id, { payments: [] }));
    for (const m of ['getroutes', 'createonion', 'sendonion', 'waitsendpay'])
      fake.replyWith(m, `${RUN}/${m}`);
  });

  const routes = () =>
    rpcRecord(`${RUN}/getroutes`).request.params as { destination: string; amount_msat: number };
  const send = (message: Uint8Array, maxParts = 128) =>
    sendMessage(node.rpc, new Sender(node.rpc), {
      destination: routes().destination,
      paymentHash: (rpcRecord(`${RUN}/createonion`).request.params as { assocdata: string }).assocdata,
      amountMsat: routes().amount_msat,
      message,
      tlvType: DEFAULT_MESSAGE_TLV_TYPE,
      sign: false,
      retryForSeconds: 0,
      maxFeeMsat: 100_000,
      maxParts,
    });
  /** The onions the sender asked lightningd to build: each one's hop payloads. */
  const onions = () =>
    node.fake.requests
      .filter((r) => r.method === 'createonion')
      .map((r) => (r.params as { hops: { payload: string }[] }).hops.map((h) => fromHex(h.payload)));
  // 5000 msat and CLTV values near 126: the payload field widths on the recorded route.
  const LIMIT = maxMessageBytes(2, { amountMsat: 5000n, blockheight: 126 });

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
