import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import { finished, networkForSuite, spendable } from './support/network.js';

/** Payment safety under hostile senders (issue 8), on 3 real nodes in a line; node 3 is the payee. */
describe('payment safety on real lightningd', () => {
  const suite = networkForSuite();

  /**
   * Restarts node 3 with these lnmsg options. Not `plugin stop` + `plugin start`: lightningd
   * v26.06 then runs the restarted plugin's hook after its keysend plugin (README, "Loading").
   */
  async function payeeWith(options: Record<string, string | number>) {
    await suite.net.restart(3, ...Object.entries(options).map(([k, v]) => `--${k}=${v}`));
    await suite.net.channelsActive(3);
    await suite.net.channelsActive(2);
  }

  const send = (params: Record<string, unknown>) =>
    suite.net.call<{ status: string; parts: number; amount_sent_msat: number; payment_hash: string }>(
      1,
      'sendmessage',
      { destination: suite.payee, amount_msat: 5000, retry_for: 10, ...params },
    );

  /** The plugin's pid on node 3, from `plugin list`: a crash would change it or drop it. */
  async function payeePlugin(): Promise<{ active: boolean; name: string }> {
    const { plugins } = await suite.net.call<{ plugins: { name: string; active: boolean }[] }>(3, 'plugin', {
      subcommand: 'list',
    });
    const p = plugins.find((x) => x.name.endsWith('lnmsg-plugin'));
    assert.ok(p, 'lnmsg is loaded');
    return p;
  }

  test('a held 3,000-byte message accepted 70 s after its parts arrived settles; the payer pays once', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { amount_msat: 30_000, hold: true });
    const message = randomBytes(3000).toString('hex');
    const before = await spendable(suite.net, 1);
    const sending = send({ payment_hash: hash, amount_msat: 30_000, message_hex: message, retry_for: 120 });
    const held = await suite.net.call<{ status: string; htlc_count: number }>(3, 'receivemessage_wait', {
      payment_hash: hash,
      timeout: 60,
    });
    assert.equal(held.status, 'held');
    assert.ok(held.htlc_count > 1, `${held.htlc_count} parts`);
    // Past the 60 s part timer that used to fail held parts.
    await new Promise((r) => setTimeout(r, 70_000));
    await suite.net.call(3, 'receivemessage_accept', { payment_hash: hash });
    const sent = await sending;
    assert.equal(sent.status, 'complete');
    const m = await suite.net.call<{ status: string; message_hex: string }>(3, 'receivemessage_poll', {
      payment_hash: hash,
    });
    assert.deepEqual([m.status, m.message_hex], ['settled', message]);
    assert.equal(before - (await spendable(suite.net, 1)), sent.amount_sent_msat, 'paid exactly once');
    const { payments } = await suite.net.call<{ payments: { status: string; amount_msat: number }[] }>(
      1,
      'listsendpays',
      { payment_hash: hash },
    );
    const complete = payments.filter((p) => p.status === 'complete');
    assert.equal(complete.length, sent.parts);
    assert.equal(
      complete.reduce((n, p) => n + p.amount_msat, 0),
      30_000,
    );
  });

  test('a decide command printing without end (yes) refuses in time; the plugin keeps running', async () => {
    await payeeWith({ 'lnmsg-decide-command': 'yes', 'lnmsg-decide-timeout': 5 });
    const hash = await suite.net.call<string>(3, 'receivemessage_new', {});
    await assert.rejects(send({ payment_hash: hash, message: 'flood me' }), (e: unknown) => {
      assert.ok(e instanceof RpcError && e.code === 1601, String(e));
      return true;
    });
    const m = await suite.net.call<{ status: string; reject_reason: string }>(3, 'receivemessage_poll', {
      payment_hash: hash,
    });
    assert.equal(m.status, 'rejected');
    assert.ok(m.reject_reason.length <= 200);
    assert.equal((await payeePlugin()).active, true);
  });

  test('a decide command that forks a sleeping child is killed with its child at the timeout', async () => {
    const marker = 4000 + Math.floor(Math.random() * 1000);
    await payeeWith({ 'lnmsg-decide-command': `sleep ${marker} & wait`, 'lnmsg-decide-timeout': 3 });
    const hash = await suite.net.call<string>(3, 'receivemessage_new', {});
    await assert.rejects(send({ payment_hash: hash, message: 'decide slowly' }), /1601|refused/);
    const m = await suite.net.call<{ reject_reason: string }>(3, 'receivemessage_poll', {
      payment_hash: hash,
    });
    assert.match(m.reject_reason, /no answer within 3/);
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() === `sleep ${marker}`);
    assert.deepEqual(left, [], 'no child left behind');
    assert.equal((await payeePlugin()).active, true);
  });

  test('unsolicited messages stop at the budget; a message for a handed-out hash still arrives', async () => {
    // Each entry counts as the datastore holds it (about 1 KiB for 120 bytes of message, its JSON and keys).
    await payeeWith({ 'lnmsg-max-stored-bytes': 4000 });
    const spontaneous = async () =>
      send({ message_hex: randomBytes(120).toString('hex'), sign: false }).then(
        (r) => r.status,
        (e: unknown) => (e instanceof RpcError ? e.code : e),
      );
    // The suite's earlier spontaneous messages count too: fill to the budget, then one more.
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await spontaneous());
    assert.ok(results.includes('complete'), JSON.stringify(results));
    assert.equal(results.at(-1), 1601, JSON.stringify(results));
    const hash = await suite.net.call<string>(3, 'receivemessage_new', {});
    const r = await send({ payment_hash: hash, message_hex: randomBytes(800).toString('hex') });
    assert.equal(r.status, 'complete');
  });

  test('a payment to an expired hash is refused and nothing is stored', async () => {
    await payeeWith({});
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { expiry: 1 });
    await new Promise((r) => setTimeout(r, 2500));
    await assert.rejects(send({ payment_hash: hash, message: 'too late' }), /1601|refused|expired/);
    assert.equal(await suite.net.call(3, 'receivemessage_poll', { payment_hash: hash }), null);
  });

  test('lnmsg inbox shows a message full of control characters without one raw control byte', async () => {
    const hostile =
      '\x1b]0;pwned\x07\x1b[2J\rhello\nsender: 02aaaa (verified)\n\u202egnp.exe\u009b31m\x00\x7f';
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { label: 'label\x1b[1m\nforged' });
    await send({ payment_hash: hash, message: hostile });
    const r = await finished(suite.net.lnmsg(3, 'inbox'));
    assert.equal(r.code, 0, r.stderr);
    const bytes = Buffer.from(r.stdout, 'utf8');
    const raw = [...bytes].filter((b) => b < 0x20 && b !== 0x0a);
    assert.deepEqual(raw, [], 'no C0 control byte but the CLI’s own newlines');
    assert.ok(!bytes.includes(0x7f), 'no DEL');
    assert.ok(!/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/.test(r.stdout), 'no C1 or bidi control');
    assert.ok(!/^sender: 02aaaa/m.test(r.stdout), 'the message cannot start a line of the CLI');
    assert.ok(!/^forged/m.test(r.stdout), 'nor can a label');
  });
});
