import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import { projectRoot } from '../test/support/shared.js';
import { everyMessage, invoiceStatus, networkForSuite, PLUGIN, until } from './support/network.js';

/** A plugin that lets a test make node 2 sit on forwarded HTLCs (stall-plugin.ts). */
const STALL = resolve(projectRoot, 'e2e', 'support', 'stall-forwards');
const BUDGET = 2000;

interface Entry {
  payment_hash: string;
  message: string;
  status: string;
}

interface Bolt11 {
  bolt11: string;
  payment_hash: string;
}

/** What a routing node that stalls a part, and a payer that floods, leave at the payee (issue 18). */
describe('a stalled part and a flood of empty messages on real lightningd (1-2-3, node 3 the payee)', () => {
  const suite = networkForSuite(3, [`--plugin=${PLUGIN}`, `--plugin=${STALL}`]);
  const poll = (hash: string) =>
    suite.net.call<Entry | null>(3, 'receivemessage_poll', { payment_hash: hash });

  test('a part a routing node sits on for 75 s leaves the invoice payable, with a message or without', async () => {
    const invoices = await Promise.all(
      [1, 2].map(() =>
        suite.net.call<Bolt11>(3, 'receivemessage_invoice', { amount_msat: 30_000, expiry: 3600 }),
      ),
    );
    for (const inv of invoices) {
      await suite.net.call(2, 'e2e-stall', { payment_hash: inv.payment_hash, seconds: 75 });
    }
    // 3,000 bytes: several parts, of which node 2 holds the first past the payee's part timer.
    const message = randomBytes(3000).toString('hex');
    const stalled = await Promise.all(
      invoices.map((inv) =>
        suite.net
          .call(1, 'sendmessage', { bolt11: inv.bolt11, message_hex: message, retry_for: 20, sign: false })
          .then(
            () => 'paid',
            (e: unknown) => e,
          ),
      ),
    );
    for (const [i, inv] of invoices.entries()) {
      const e = stalled[i];
      assert.ok(e instanceof RpcError, `the stalled payment: ${String(e)}`);
      assert.match(e.message, /in time/, e.message);
      assert.equal(await invoiceStatus(suite.net, inv.payment_hash), 'unpaid');
      assert.equal(await poll(inv.payment_hash), null, 'nothing of the failed set is kept');
      await assert.rejects(
        suite.net.call(3, 'receivemessage_delete', { payment_hash: inv.payment_hash }),
        /no message stored/,
      );
    }
    const [withMessage, without] = invoices as [Bolt11, Bolt11];
    const sent = await suite.net.call<{ status: string }>(1, 'sendmessage', {
      bolt11: withMessage.bolt11,
      message: 'after the stall',
      sign: false,
    });
    assert.equal(sent.status, 'complete');
    await until('settled', async () => (await poll(withMessage.payment_hash))?.status === 'settled');
    await suite.net.call(1, 'xpay', { invstring: without.bolt11 });
    assert.equal(await invoiceStatus(suite.net, without.payment_hash), 'paid');
    const deleted = await suite.net.call<{ deleted: Entry }>(3, 'receivemessage_delete', {
      payment_hash: withMessage.payment_hash,
    });
    assert.equal(deleted.deleted.message, 'after the stall');
    assert.equal(await poll(withMessage.payment_hash), null);
  });

  test(`60 keysends with an empty message record stop at lnmsg-max-stored-bytes=${BUDGET}`, async (t) => {
    await suite.net.restart(3, `--lnmsg-max-stored-bytes=${BUDGET}`);
    await suite.net.channelsActive(3);
    await suite.net.channelsActive(2);
    const payee = await suite.net.id(3);
    const outcomes: (string | RpcError)[] = [];
    for (let i = 0; i < 60; i++) {
      outcomes.push(
        await suite.net
          .coreKeysend(1, { destination: payee, amount_msat: 1000, extratlvs: { '34349334': '' } })
          .then(
            (r) =>
              createHash('sha256')
                .update(Buffer.from((r as { payment_preimage: string }).payment_preimage, 'hex'))
                .digest('hex'),
            (e: unknown) => {
              assert.ok(e instanceof RpcError, String(e));
              return e;
            },
          ),
      );
    }
    const settled = outcomes.filter((o): o is string => typeof o === 'string');
    const refused = outcomes.filter((o) => o instanceof RpcError);
    const firstRefused = outcomes.findIndex((o) => o instanceof RpcError);
    assert.ok(refused.length > 0, `all ${outcomes.length} settled`);
    assert.ok(
      outcomes.slice(firstRefused).every((o) => o instanceof RpcError),
      'once full, full: nothing after the first refusal settles',
    );
    // Every keysend that settled was stored; what they take in the datastore is within the budget.
    const stored = (await everyMessage(suite.net)).filter((m) => settled.includes(m.payment_hash));
    assert.equal(stored.length, settled.length);
    let bytes = 0;
    for (const m of stored) {
      const { datastore } = await suite.net.call<{ datastore: { hex?: string }[] }>(3, 'listdatastore', {
        key: ['lnmsg', 'message', m.payment_hash],
      });
      bytes += (datastore[0]?.hex?.length ?? 0) / 2;
    }
    t.diagnostic(
      `${settled.length} settled and stored (${bytes} datastore bytes), ${refused.length} refused: ${refused[0]?.message}`,
    );
    assert.ok(bytes <= BUDGET, `${stored.length} entries take ${bytes} bytes`);
  });
});
