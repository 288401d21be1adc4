import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { jsonLines, lnmsg, output, until } from '../test/support/cli.js';
import { networkForSuite } from './support/network.js';

const WATCHING = /waiting for new messages/;

describe('an operator on 3 real nodes: restarts of the payee, a held payment', () => {
  const suite = networkForSuite();
  const socket = (k: number) => join(suite.net.nodeDir(k), 'regtest', 'lightning-rpc');
  /** Node 1 pays node 3 a message on a fresh hash. */
  const pay = async (message: string) => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new');
    await suite.net.call(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 1000,
      message,
      retry_for: 90,
    });
  };

  test('watch keeps printing across a kill -9 restart of its node, each message once', async () => {
    await pay('before watch started');
    const child = lnmsg(socket(3), ['--json', 'watch']);
    const out = output(child);
    await until(out, child, WATCHING);
    await pay('before the restart');
    await until(out, child, /before the restart/);
    await suite.net.restart(3);
    await until(out, child, /lightningd went away: reconnecting…/);
    await suite.net.channelsActive(3);
    await pay('after the restart');
    await until(out, child, /after the restart/);
    await until(out, child, /reconnected/);
    child.kill('SIGINT');
    await out.done;
    const printed = jsonLines<{ message: string }>(out.stdout().toString()).map((m) => m.message);
    assert.deepEqual(printed, ['before the restart', 'after the restart']);
  });

  test('receive, waiting for its message, rides out a restart of its node', async () => {
    const child = lnmsg(socket(3), ['--json', 'receive', '--timeout', '180']);
    const out = output(child);
    await until(out, child, /"bolt11":"ln[0-9a-z]+"/);
    const bolt11 = (/"bolt11":"(ln[0-9a-z]+)"/.exec(out.text()) as RegExpExecArray)[1];
    await suite.net.restart(3);
    await suite.net.channelsActive(3);
    await suite.net.call(1, 'sendmessage', {
      bolt11,
      amount_msat: 1000,
      message: 'paid after the restart',
      retry_for: 90,
    });
    assert.equal(await out.done, 0, out.text());
    assert.match(out.stderr(), /reconnected/);
    const last = jsonLines<{ message: string }>(out.stdout().toString()).at(-1);
    assert.equal(last?.message, 'paid after the restart');
  });

  test('a payment the payee holds: the payer, on a terminal, is told it waits for the decision', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { hold: true });
    const flags = ['--destination', suite.payee, '--payment-hash', hash, '--amount-msat', '1000'];
    const child = lnmsg(socket(1), ['send', ...flags, '--message', 'hold me'], true);
    const out = output(child);
    await until(out, child, /waiting for the payee to decide…/);
    await suite.net.call(3, 'receivemessage_accept', { payment_hash: hash });
    assert.equal(await out.done, 0, out.text().slice(-500));
    assert.match(out.text(), /paid 1000 msat/);
  });
});
