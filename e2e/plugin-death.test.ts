import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import { invoiceStatus, networkForSuite, PLUGIN, spendable, until } from './support/network.js';

/**
 * lnmsg dies, lightningd stays up, while a message on a hold=true invoice waits for the payee's
 * decision (issue 18, item 9): a dead plugin's pending hook is skipped as if it had answered
 * `continue`, so what lnmsg holds must be something lightningd then refuses on its own.
 */
describe('the payee plugin dies while a message on an invoice is held', () => {
  const suite = networkForSuite();
  const poll = (hash: string) =>
    suite.net.call<{ status: string } | null>(3, 'receivemessage_poll', { payment_hash: hash });
  const loaded = async () => {
    const { plugins } = await suite.net.call<{ plugins: { name: string }[] }>(3, 'plugin', {
      subcommand: 'list',
    });
    return plugins.some((p) => p.name.endsWith('lnmsg-plugin'));
  };

  const ends: [string, () => Promise<unknown>][] = [
    [
      'kill -9 of the plugin process',
      async () => {
        const lightningd = readFileSync(join(suite.net.nodeDir(3), 'pid'), 'utf8').trim();
        const pid = execFileSync('pgrep', ['-P', lightningd, '-f', 'lnmsg-plugin'], { encoding: 'utf8' });
        process.kill(Number(pid.trim()), 'SIGKILL');
      },
    ],
    [
      'lightning-cli plugin stop',
      () => suite.net.call(3, 'plugin', { subcommand: 'stop', plugin: 'lnmsg-plugin' }),
    ],
  ];
  for (const [how, end] of ends) {
    test(`${how}: the payer is refunded, the invoice stays unpaid, nothing is settled`, async (t) => {
      const inv = await suite.net.call<{ bolt11: string; payment_hash: string }>(
        3,
        'receivemessage_invoice',
        {
          amount_msat: 5000,
          hold: true,
        },
      );
      const before = await spendable(suite.net, 1);
      const sending = suite.net
        .call(1, 'sendmessage', {
          bolt11: inv.bolt11,
          message: 'held while lnmsg dies',
          sign: false,
          retry_for: 10,
        })
        .then(
          () => 'paid',
          (e: unknown) => (e instanceof RpcError ? 'failed' : String(e)),
        );
      await until('held', async () => (await poll(inv.payment_hash))?.status === 'held');
      try {
        await end();
        await until('lightningd to drop the plugin', async () => !(await loaded()));
        const payer = await sending;
        const refunded = (await spendable(suite.net, 1)) === before;
        const invoice = await invoiceStatus(suite.net, inv.payment_hash);
        await suite.net.call(3, 'plugin', { subcommand: 'start', plugin: PLUGIN });
        await until(
          'the restarted plugin to write what became of it',
          async () => (await poll(inv.payment_hash))?.status !== 'held',
        );
        const stored = (await poll(inv.payment_hash))?.status;
        const seen = {
          payer,
          refunded,
          invoice,
          stored,
          invoiceAfterStart: await invoiceStatus(suite.net, inv.payment_hash),
        };
        t.diagnostic(JSON.stringify(seen));
        assert.deepEqual(
          { ...seen, stored: seen.stored === 'settled' ? 'settled' : 'not settled' },
          {
            payer: 'failed',
            refunded: true,
            invoice: 'unpaid',
            stored: 'not settled',
            invoiceAfterStart: 'unpaid',
          },
        );
      } finally {
        // The next test needs lnmsg, whatever became of this one.
        if (!(await loaded())) await suite.net.call(3, 'plugin', { subcommand: 'start', plugin: PLUGIN });
      }
    });
  }
});
