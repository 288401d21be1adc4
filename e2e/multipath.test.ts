import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { networkForSuite, PLUGIN } from './support/network.js';

const SLOTS = 30; // Core Lightning's mainnet default for max-concurrent-htlcs

describe(`mainnet HTLC slots (${SLOTS} per channel): a message larger than one path holds spreads over two`, () => {
  const suite = networkForSuite(3, [`--plugin=${PLUGIN}`, `--max-concurrent-htlcs=${SLOTS}`]);

  test('node 1 -> node 3 directly and through node 2: more parts than one channel takes', async () => {
    const { net } = suite;
    // A second path: a direct channel from node 1 to node 3 beside the line 1 -> 2 -> 3.
    const { binding } = await net.call<{ binding: { address: string; port: number }[] }>(3, 'getinfo');
    const at = binding[0] as { address: string; port: number };
    await net.call(1, 'connect', { id: suite.payee, host: at.address, port: at.port });
    await net.call(1, 'fundchannel', { id: suite.payee, amount: 2_000_000, push_msat: 0 });
    await net.mine(6);
    for (;;) {
      const { channels } = await net.call<{ channels: { peer_id: string; state: string }[] }>(
        1,
        'listpeerchannels',
        { id: suite.payee },
      );
      if (channels.some((c) => c.state === 'CHANNELD_NORMAL')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const message = randomBytes(40 * 1024);
    const hash = await net.call<string>(3, 'receivemessage_new', { amount_msat: 100_000 });
    const sent = await net.call<{ status: string; parts: number; paths: number }>(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 100_000,
      message_hex: message.toString('hex'),
      sign: false,
      retry_for: 60,
    });
    assert.equal(sent.status, 'complete');
    assert.ok(sent.parts > SLOTS, `${sent.parts} parts: more than one channel's ${SLOTS} slots`);
    assert.ok(sent.paths >= 2, `${sent.paths} paths`);
    const got = await net.call<{ message_hex: string; htlc_count: number }>(3, 'receivemessage_poll', {
      payment_hash: hash,
    });
    assert.equal(got.message_hex, message.toString('hex'));
    assert.equal(got.htlc_count, sent.parts);
  });
});
