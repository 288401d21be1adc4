import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { everyMessage, networkForSuite, PLUGIN, until } from './support/network.js';

describe('faults: kill -9 at every step, nothing lost or doubled', () => {
  const suite = networkForSuite();

  const send = (hash: string, message: string) =>
    suite.net.call<{ status: string }>(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 3000,
      message,
      retry_for: 120,
    });
  const storedOnce = async (hash: string, status = 'settled') => {
    const mine = (await everyMessage(suite.net)).filter((m) => m.payment_hash === hash);
    assert.deepEqual(
      mine.map((m) => m.status),
      [status],
    );
  };
  const paidOnce = async (hash: string) => {
    await until('the payer to see the payment complete', async () => {
      const { payments } = await suite.net.call<{ payments: { status: string }[] }>(1, 'listsendpays', {
        payment_hash: hash,
      });
      return payments.some((p) => p.status === 'complete');
    });
    const { payments } = await suite.net.call<{ payments: { status: string }[] }>(1, 'listsendpays', {
      payment_hash: hash,
    });
    assert.equal(payments.filter((p) => p.status === 'complete').length, 1);
    assert.equal(payments.filter((p) => p.status === 'pending').length, 0);
  };

  test('(a) receiver killed right after receivemessage_new', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new');
    await suite.net.restart(3);
    await suite.net.channelsActive(3);
    assert.equal((await send(hash, 'a')).status, 'complete');
    await storedOnce(hash);
    await paidOnce(hash);
  });

  test('(b) receiver killed while the HTLC is held for a decision', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { hold: true });
    const sending = send(hash, 'b');
    await suite.net.call(3, 'receivemessage_wait', { payment_hash: hash, timeout: 60 });
    await suite.net.restart(3);
    // lightningd replays the HTLC to the restarted plugin, which holds it again.
    await until('the replayed HTLC to be held', () =>
      suite.net
        .call(3, 'receivemessage_accept', { payment_hash: hash })
        .then(() => true)
        .catch(() => false),
    );
    assert.equal((await sending).status, 'complete');
    await storedOnce(hash);
    await paidOnce(hash);
  });

  test('(c) receiver killed after the message is stored, before the HTLC is resolved', async () => {
    const marker = join(suite.net.dir, 'stored-c');
    // The decide command runs after the message is stored and before the answer: it marks that moment and waits.
    await suite.net.restart(3, `--lnmsg-decide-command=echo $$ > ${marker}; exec sleep 600`);
    await suite.net.channelsActive(3);
    const hash = await suite.net.call<string>(3, 'receivemessage_new');
    const sending = send(hash, 'c');
    await until('the message to be stored', () => existsSync(marker));
    suite.net.kill9(3);
    process.kill(Number(readFileSync(marker, 'utf8')), 'SIGKILL');
    await suite.net.restart(3);
    assert.equal((await sending).status, 'complete');
    await storedOnce(hash);
    await paidOnce(hash);
  });

  test('(d) sender killed mid-payment', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { hold: true });
    const sending = send(hash, 'd').catch((e: Error) => e);
    await suite.net.call(3, 'receivemessage_wait', { payment_hash: hash, timeout: 60 });
    suite.net.kill9(1);
    assert.ok((await sending) instanceof Error, 'the killed node dropped the call');
    await suite.net.restart(1);
    await suite.net.call(3, 'receivemessage_accept', { payment_hash: hash });
    await storedOnce(hash);
    await paidOnce(hash);
  });

  test('the plugin process killed, lightningd up: HTLCs for its hashes fail (money back) until it is started again', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new');
    const lightningd = readFileSync(join(suite.net.nodeDir(3), 'pid'), 'utf8').trim();
    const pid = execFileSync('pgrep', ['-P', lightningd, '-f', 'lnmsg-plugin'], { encoding: 'utf8' }).trim();
    process.kill(Number(pid), 'SIGKILL');
    await until('lightningd to notice', async () => {
      const { plugins } = await suite.net.call<{ plugins: { name: string; active: boolean }[] }>(
        3,
        'plugin',
        {
          subcommand: 'list',
        },
      );
      return !plugins.some((p) => p.name.endsWith('lnmsg-plugin'));
    });
    await assert.rejects(
      suite.net.call(1, 'sendmessage', {
        destination: suite.payee,
        payment_hash: hash,
        amount_msat: 3000,
        message: 'e',
        retry_for: 5,
      }),
      // lightningd alone cannot read the message record: to the payer, the payee has no lnmsg now.
      /the payee does not run lnmsg/,
    );
    await suite.net.call(3, 'plugin', { subcommand: 'start', plugin: PLUGIN });
    assert.equal((await send(hash, 'e')).status, 'complete');
    await storedOnce(hash);
    await paidOnce(hash);
  });
});
