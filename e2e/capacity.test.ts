import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import { maxMessageBytes } from '../src/onion/capacity.js';
import { cltvBase } from '../src/send/route.js';
import { networkForSuite } from './support/network.js';

/**
 * The whole onion on 4 real nodes in a line, payee node 4: node 3 is 1 hop from it, node 2 two,
 * node 1 three. A message of exactly the BOLT 4 limit of the route goes in one HTLC; one byte more
 * does not.
 */
describe('the whole onion: exactly the limit in one HTLC over 1, 2 and 3 hops', () => {
  const suite = networkForSuite(4);
  const AMOUNT = 1000;

  for (const hops of [1, 2, 3]) {
    test(`${hops} hop${hops === 1 ? '' : 's'}: the limit fits one HTLC, one byte more is refused`, async () => {
      const from = 4 - hops;
      const { blockheight } = await suite.net.call<{ blockheight: number }>(from, 'getinfo');
      // Amounts (1000-1002 msat) and CLTV values (under 256) as the route's payloads carry them.
      const limit = maxMessageBytes(hops, {
        amountMsat: BigInt(AMOUNT),
        blockheight: cltvBase(blockheight) + 18,
      });
      const send = async (bytes: number) => {
        const hash = await suite.net.call<string>(4, 'receivemessage_new', {});
        const r = await suite.net.call<{ status: string; parts: number }>(from, 'sendmessage', {
          destination: suite.payee,
          payment_hash: hash,
          amount_msat: AMOUNT,
          message_hex: randomBytes(bytes).toString('hex'),
          sign: false,
          max_parts: 1,
        });
        return { r, hash };
      };
      const { r, hash } = await send(limit);
      assert.deepEqual([r.status, r.parts], ['complete', 1]);
      const m = await suite.net.call<{ message_bytes: number; htlc_count: number }>(
        4,
        'receivemessage_poll',
        {
          payment_hash: hash,
        },
      );
      assert.deepEqual([m.message_bytes, m.htlc_count], [limit, 1]);
      await assert.rejects(send(limit + 1), (e: unknown) => {
        assert.ok(e instanceof RpcError && e.code === 1603, String(e));
        assert.match(e.message, new RegExp(`at most ${limit} bytes`));
        return true;
      });
    });
  }

  test('one byte over the limit without max_parts goes in two parts', async () => {
    const { blockheight } = await suite.net.call<{ blockheight: number }>(2, 'getinfo');
    const limit = maxMessageBytes(2, { amountMsat: BigInt(AMOUNT), blockheight: cltvBase(blockheight) + 18 });
    const hash = await suite.net.call<string>(4, 'receivemessage_new', {});
    const message = randomBytes(limit + 1).toString('hex');
    const r = await suite.net.call<{ parts: number }>(2, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: AMOUNT,
      message_hex: message,
      sign: false,
    });
    assert.equal(r.parts, 2);
    const m = await suite.net.call<{ message_hex: string }>(4, 'receivemessage_poll', { payment_hash: hash });
    assert.equal(m.message_hex, message);
  });
});
