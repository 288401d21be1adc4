import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import { invoiceStatus, networkForSuite, until } from './support/network.js';

interface Entry {
  payment_hash: string;
  message: string;
  status: string;
  kind: string;
  label?: string;
  records_only?: boolean;
  records?: { type: string; value: string }[];
  boostagram?: Record<string, unknown>;
  tip_note?: string;
}

const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');

/**
 * The payee's side of invoices on 3 real nodes in a line, node 3 a production node (PLAIN_LAST=1:
 * no --developer, so lightningd's invoice_payment hook carries no records and lnmsg must read them
 * in htlc_accepted). lnmsg runs on every node.
 */
describe('messages and payment data on invoices (payee)', () => {
  const suite = networkForSuite(3, undefined, { PLAIN_LAST: '1' });
  const poll = (hash: string) =>
    suite.net.call<Entry | null>(3, 'receivemessage_poll', { payment_hash: hash });
  const settled = async (hash: string) => {
    await until(`${hash} settled`, async () => (await poll(hash))?.status === 'settled');
    return (await poll(hash)) as Entry;
  };
  /** A keysend of node 1's lightningd (no lnmsg message) with `extratlvs`; its payment hash. */
  const keysend = async (extratlvs: Record<string, string>) => {
    const r = (await suite.net.coreKeysend(1, {
      destination: suite.payee,
      amount_msat: 5000,
      extratlvs,
    })) as {
      payment_preimage: string;
    };
    return createHash('sha256').update(Buffer.from(r.payment_preimage, 'hex')).digest('hex');
  };
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => {
        assert.ok(e instanceof RpcError, String(e));
        return e;
      },
    );

  test('a node on the route knows the hash but not the secret: its message is refused, the payer’s is kept', async () => {
    const inv = await suite.net.call<{ bolt11: string; payment_hash: string; payment_secret: string }>(
      3,
      'receivemessage_invoice',
      { amount_msat: 10_000, label: 'mitm' },
    );
    // Node 2 forwards the payer's HTLC and so sees the hash: it tries to pay it first, with its own words.
    const e = await refusal(
      suite.net.call(2, 'sendmessage', {
        destination: suite.payee,
        payment_hash: inv.payment_hash,
        amount_msat: 10_000,
        message: 'forged by the node in the middle',
        sign: false,
      }),
    );
    assert.equal(e.code, 1601, e.message);
    assert.match(e.message, /does not know this payment hash/);
    assert.equal(await poll(inv.payment_hash), null);
    assert.equal(await invoiceStatus(suite.net, inv.payment_hash), 'unpaid');

    await suite.net.call(1, 'sendmessage', { bolt11: inv.bolt11, message: 'the real one', sign: false });
    const m = await settled(inv.payment_hash);
    assert.deepEqual([m.message, m.kind, m.label], ['the real one', 'invoice', 'mitm']);
    assert.equal(await invoiceStatus(suite.net, inv.payment_hash), 'paid');
  });

  test("a message on an ordinary `invoice` of the payee is kept, and lightningd's invoice shows paid", async () => {
    const inv = await suite.net.call<{ bolt11: string; payment_hash: string }>(3, 'invoice', {
      amount_msat: 7000,
      label: 'order-42',
      description: 'an ordinary invoice',
    });
    await suite.net.call(1, 'sendmessage', { bolt11: inv.bolt11, message: 'for order 42', sign: false });
    const m = await settled(inv.payment_hash);
    assert.deepEqual([m.message, m.label, m.kind], ['for order 42', 'order-42', 'invoice']);
    assert.equal(await invoiceStatus(suite.net, inv.payment_hash), 'paid');
  });

  test('held on an invoice: lightningd waits for the decision; refused, the invoice stays unpaid', async () => {
    const inv = await suite.net.call<{ bolt11: string; payment_hash: string }>(3, 'receivemessage_invoice', {
      amount_msat: 5000,
      hold: true,
    });
    const sending = suite.net
      .call(1, 'sendmessage', { bolt11: inv.bolt11, message: 'may I?', sign: false })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    await until('held', async () => (await poll(inv.payment_hash))?.status === 'held');
    await suite.net.call(3, 'receivemessage_reject', { payment_hash: inv.payment_hash, reason: 'not today' });
    const e = await sending;
    assert.ok(e instanceof RpcError, String(e));
    assert.match(e.message, /not today/);
    assert.equal((await poll(inv.payment_hash))?.status, 'rejected');
    assert.equal(await invoiceStatus(suite.net, inv.payment_hash), 'unpaid');
  });

  test('kill -9 of the payee while a message on an invoice is held: held again, accepted, paid once', async () => {
    const inv = await suite.net.call<{ bolt11: string; payment_hash: string }>(3, 'receivemessage_invoice', {
      amount_msat: 6000,
      hold: true,
    });
    const sending = suite.net.call<{ status: string }>(1, 'sendmessage', {
      bolt11: inv.bolt11,
      message: 'hold me through a crash',
      sign: false,
    });
    await until('held', async () => (await poll(inv.payment_hash))?.status === 'held');
    await suite.net.restart(3);
    await suite.net.channelsActive(3);
    // lightningd replays the HTLC, then calls invoice_payment again: the restored set answers it.
    await until('the replayed payment to be held', () =>
      suite.net
        .call(3, 'receivemessage_accept', { payment_hash: inv.payment_hash })
        .then(() => true)
        .catch(() => false),
    );
    assert.equal((await sending).status, 'complete');
    const m = await settled(inv.payment_hash);
    assert.equal(m.message, 'hold me through a crash');
    assert.equal(await invoiceStatus(suite.net, inv.payment_hash), 'paid');
    const { payments } = await suite.net.call<{ payments: { status: string }[] }>(1, 'listsendpays', {
      payment_hash: inv.payment_hash,
    });
    assert.equal(payments.filter((p) => p.status === 'complete').length, 1);
  });

  test('a boostagram by xkeysend (keysend before v26.06; no lnmsg message) is listed with its text and fields', async () => {
    const boost = { message: 'great episode', action: 'boost', value_msat_total: 5000, app_name: 'e2e' };
    const hash = await keysend({ '7629169': hex(JSON.stringify(boost)), '7629171': hex('a tip note') });
    const m = await settled(hash);
    assert.equal(m.message, 'great episode');
    assert.equal(m.kind, 'keysend');
    assert.equal(m.records_only, true);
    assert.deepEqual(m.boostagram, boost);
    assert.equal(m.tip_note, 'a tip note');
    assert.deepEqual(
      m.records?.map((x) => x.type),
      ['7629169', '7629171'],
    );
    const { messages } = await suite.net.call<{ messages: Entry[] }>(3, 'receivemessage_list');
    assert.ok(messages.some((x) => x.payment_hash === hash));
  });

  test('a boostagram that is not JSON is kept raw and flagged', async () => {
    const hash = await keysend({ '7629169': hex('{not json') });
    const m = (await settled(hash)) as Entry & { record_problems?: { type: string }[] };
    assert.deepEqual(m.records, [{ type: '7629169', value: hex('{not json') }]);
    assert.deepEqual(
      m.record_problems?.map((p) => p.type),
      ['7629169'],
    );
  });

  test('xpay of an invoice without a message leaves nothing', async () => {
    const inv = await suite.net.call<{ bolt11: string; payment_hash: string }>(3, 'invoice', {
      amount_msat: 3000,
      label: 'plain-xpay',
      description: 'no message',
    });
    await suite.net.call(1, 'xpay', { invstring: inv.bolt11 });
    assert.equal(await invoiceStatus(suite.net, inv.payment_hash), 'paid');
    assert.equal(await poll(inv.payment_hash), null);
  });
});
