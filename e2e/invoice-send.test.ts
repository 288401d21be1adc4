import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import { finished, networkForSuite, until } from './support/network.js';

/**
 * sendmessage with an invoice on 3 real nodes in a line, node 3 behind an unannounced channel
 * (PRIVATE_LAST=1: only its invoices' route hints lead to it). lnmsg runs on every node but node 2,
 * whose plugin is stopped: a payee that takes no messages.
 */
describe('paying an invoice with a message', () => {
  const suite = networkForSuite(3, undefined, { PRIVATE_LAST: '1' });
  let label = 0;
  const invoice = async (k: number, amountMsat: number | 'any', expiry?: number) =>
    await suite.net.call<{ bolt11: string; payment_hash: string }>(k, 'invoice', {
      amount_msat: amountMsat,
      label: `e2e-${++label}`,
      description: 'lnmsg e2e',
      ...(expiry === undefined ? {} : { expiry }),
    });
  const send = async (...args: string[]) => {
    const r = await finished(suite.net.lnmsg(1, 'send', '--no-sign', ...args));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    return r;
  };
  const invoiceStatus = async (k: number, paymentHash: string) =>
    (
      await suite.net.call<{ invoices: { status: string }[] }>(k, 'listinvoices', {
        payment_hash: paymentHash,
      })
    ).invoices[0]?.status;
  const poll = (hash: string) =>
    suite.net.call<{ message: string; status: string } | null>(3, 'receivemessage_poll', {
      payment_hash: hash,
    });
  const sendpays = async (paymentHash: string) =>
    (
      await suite.net.call<{ payments: { status: string }[] }>(1, 'listsendpays', {
        payment_hash: paymentHash,
      })
    ).payments;

  test('set-up: node 2 runs without lnmsg', async () => {
    await suite.net.call(2, 'plugin', { subcommand: 'stop', plugin: 'lnmsg-plugin' });
  });

  test('an ordinary invoice of a payee without lnmsg: it says so, and nothing is paid', async () => {
    const inv = await invoice(2, 5000);
    const r = await send(inv.bolt11, 'hello, plain node');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the payee does not run lnmsg/);
    assert.equal(await invoiceStatus(2, inv.payment_hash), 'unpaid');
    const parts = await sendpays(inv.payment_hash);
    assert.ok(parts.length > 0 && parts.every((p) => p.status === 'failed'), JSON.stringify(parts));
  });

  test('the same with a message in many parts (each carrying payment_data): refused whole, nothing paid', async () => {
    const inv = await invoice(2, 'any');
    const r = await send(inv.bolt11, '--amount-msat', '50000', '--hex', randomBytes(5000).toString('hex'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the payee does not run lnmsg/);
    assert.equal(await invoiceStatus(2, inv.payment_hash), 'unpaid');
    assert.ok((await sendpays(inv.payment_hash)).every((p) => p.status === 'failed'));
  });

  test('refused before anything is sent: expired, another network, malformed, our own, a wrong amount', async () => {
    const expired = await invoice(3, 5000, 1);
    await new Promise((r) => setTimeout(r, 2100));
    const own = await invoice(1, 5000);
    const amount = await invoice(3, 5000);
    // BOLT 11's own mainnet example (P2TR fallback): lightningd's decode reads it as valid here.
    const mainnet =
      'lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqsfp4pptdvg0d2nj99568qn6ssdy4cygnwuxgw2ukmnwgwz7jpqjz2kszs9qrsgqy606dznq28exnydt2r4c29y56xjtn3sk4mhgjtl4pg2y4ar3249rq4ajlmj9jy8zvlzw7cr8mggqzm842xfr0v72rswzq9xvr4hknfsqwmn6xd';
    const cases: [string[], RegExp, string][] = [
      [[expired.bolt11, 'late'], /the invoice expired \d+ seconds ago/, expired.payment_hash],
      [
        [mainnet, 'wrong chain'],
        /another network \(prefix lnbc\); this node runs on regtest/,
        '0001020304050607080900010203040506070809000102030405060708090102',
      ],
      [
        [`${amount.bolt11.slice(0, -1)}q`, 'typo'],
        /lightningd cannot read this invoice: .*[Bb]ad bech32/,
        amount.payment_hash,
      ],
      [[own.bolt11, 'to me'], /this node's own/, own.payment_hash],
      [[amount.bolt11, 'more', '--amount-msat', '6000'], /asks for 5000 msat, not 6000/, amount.payment_hash],
    ];
    for (const [args, says, hash] of cases) {
      const r = await send(...args);
      assert.equal(r.code, 2, `${args[1]}: ${r.stderr}`);
      assert.match(r.stderr, says);
      assert.deepEqual(await sendpays(hash), [], `${args[1]}: nothing sent`);
    }
    const { messages } = await suite.net.call<{ messages: unknown[] }>(1, 'sendmessage_list');
    assert.equal(messages.length, 2, 'only the two payments that went out are kept');
  });

  test("a payee behind an unannounced channel, reached through its invoice's route hint", async () => {
    const payee = await suite.net.id(3);
    const self = await suite.net.id(1);
    // Without the hint askrene does not know node 3 at all.
    const unknown = await suite.net
      .call(1, 'getroutes', {
        source: self,
        destination: payee,
        amount_msat: 5000,
        layers: [],
        maxfee_msat: 5000,
        final_cltv: 18,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(unknown instanceof RpcError && /Unknown destination/.test(unknown.message), String(unknown));

    // An ordinary invoice of node 3 (lightningd's `invoice`): its lnmsg reads the message on it.
    const inv = await invoice(3, 5000);
    await suite.net.call(1, 'sendmessage', { bolt11: inv.bolt11, message: 'through the hint', sign: false });
    await until('settled', async () => (await poll(inv.payment_hash))?.status === 'settled');
    assert.equal((await poll(inv.payment_hash))?.message, 'through the hint');
    assert.equal(await invoiceStatus(3, inv.payment_hash), 'paid');
    await noLayerLeft();
  });

  test("lnmsg's own invoice of the private node 3, through its route hint: delivered, in one part and in many", async () => {
    for (const message of ['through the hint', randomBytes(4000).toString('hex')]) {
      const inv = await suite.net.call<{ bolt11: string; payment_hash: string }>(
        3,
        'receivemessage_invoice',
        {
          amount_msat: 50_000,
          label: `e2e-lnmsg-${++label}`,
        },
      );
      const r = await suite.net.call<{ parts: number; payment_hash: string }>(1, 'sendmessage', {
        bolt11: inv.bolt11,
        message,
        sign: false,
      });
      assert.equal(r.payment_hash, inv.payment_hash);
      assert.equal(r.parts > 1, message.length > 1000, `${r.parts} parts`);
      await until('settled', async () => (await poll(inv.payment_hash))?.status === 'settled');
      assert.equal((await poll(inv.payment_hash))?.message, message);
      assert.equal(await invoiceStatus(3, inv.payment_hash), 'paid');
    }
    await noLayerLeft();
  });

  /** The hints' layers are gone once the sends ended. */
  async function noLayerLeft() {
    const { layers } = await suite.net.call<{ layers: { layer: string }[] }>(1, 'askrene-listlayers');
    assert.deepEqual(
      layers.filter((l) => l.layer.startsWith('lnmsg-')),
      [],
    );
  }
});
