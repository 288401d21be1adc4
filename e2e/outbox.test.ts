import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import type { SentView as Sent } from '../src/send/outbox-methods.js';
import { everyEntry, networkForSuite, until } from './support/network.js';

interface Result {
  payment_hash: string;
  payment_preimage: string;
  fee_msat: number;
  amount_sent_msat: number;
  parts: number;
}

describe('outbox: every message node 1 sends is kept, across a kill -9', () => {
  const suite = networkForSuite();
  const outbox = () => everyEntry<Sent>(suite.net, 1, 'sendmessage_list');
  const entry = async (hash: string) => (await outbox()).find((e) => e.payment_hash === hash);
  const send = (params: Record<string, unknown>) =>
    suite.net.call<Result>(1, 'sendmessage', { destination: suite.payee, retry_for: 120, ...params });

  test('to a hash, a keysend, and one the payee refuses: complete, complete, failed, with their fields', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new');
    const toHash = await send({ payment_hash: hash, amount_msat: 3000, message: 'to a hash' });
    const keysend = await send({ amount_msat: 2000, message: 'a keysend', sign: true });
    const held = await suite.net.call<string>(3, 'receivemessage_new', { hold: true });
    const refusing = send({ payment_hash: held, amount_msat: 1000, message: 'refuse me' }).catch((e) => e);
    await suite.net.call(3, 'receivemessage_wait', { payment_hash: held, timeout: 60 });
    await suite.net.call(3, 'receivemessage_reject', { payment_hash: held, reason: 'not today' });
    const refused = (await refusing) as RpcError;
    assert.ok(refused instanceof RpcError);
    assert.equal(refused.code, 1601);

    const sent = (await outbox()).filter((e) => [hash, keysend.payment_hash, held].includes(e.payment_hash));
    assert.deepEqual(
      sent.map((e) => [e.payment_hash, e.status, e.message, e.destination]),
      [
        [hash, 'complete', 'to a hash', suite.payee],
        [keysend.payment_hash, 'complete', 'a keysend', suite.payee],
        [held, 'failed', 'refuse me', suite.payee],
      ],
    );
    const [a, b, c] = sent as [Sent, Sent, Sent];
    for (const [e, r, amount] of [
      [a, toHash, 3000],
      [b, keysend, 2000],
    ] as const) {
      assert.deepEqual(
        [e.amount_msat, e.payment_preimage, e.fee_msat, e.amount_sent_msat, e.parts],
        [amount, r.payment_preimage, r.fee_msat, r.amount_sent_msat, r.parts],
      );
      assert.equal(typeof e.completed_at, 'number');
    }
    assert.deepEqual([a.spontaneous, b.spontaneous, b.signed, c.spontaneous], [false, true, true, false]);
    assert.equal(refused.message, `sendmessage: ${c.error?.message} (code ${c.error?.code})`);
    assert.match(c.error?.message ?? '', /not today/);
    assert.equal(c.fee_msat, undefined);
    assert.ok(a.created_index < b.created_index && b.created_index < c.created_index);
  });

  // For a few seconds after a restart lightningd reports the height it rescans from (82, not 108,
  // here), and a send started then keeps that height and fails expiry_too_soon until retry_for
  // runs out: so node 1 sends nothing after its restart.
  test('node 1 killed -9 with a send in flight: the outbox lists the same, and the send ends complete once the payee settles', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { hold: true });
    const sending = send({ payment_hash: hash, amount_msat: 4000, message: 'in flight' }).catch((e) => e);
    await suite.net.call(3, 'receivemessage_wait', { payment_hash: hash, timeout: 60 });
    const before = await outbox();
    assert.ok(before.length >= 4);
    assert.equal(before.find((e) => e.payment_hash === hash)?.status, 'pending');
    await suite.net.restart(1);
    assert.ok((await sending) instanceof Error, 'the killed node dropped the call');
    assert.deepEqual(await outbox(), before, 'the same entries; the HTLC is still out');

    await suite.net.call(3, 'receivemessage_accept', { payment_hash: hash });
    await until(
      'node 1 to record the payment complete',
      async () => (await entry(hash))?.status !== 'pending',
    );
    const e = (await entry(hash)) as Sent;
    const { payments } = await suite.net.call<{ payments: { status: string; payment_preimage?: string }[] }>(
      1,
      'listsendpays',
      { payment_hash: hash },
    );
    const done = payments.find((p) => p.status === 'complete');
    assert.deepEqual(
      [e.status, e.payment_preimage, e.parts, e.message],
      ['complete', done?.payment_preimage, 1, 'in flight'],
    );
    assert.equal(e.fee_msat, (e.amount_sent_msat as number) - 4000);
  });
});
