import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { finished, networkForSuite } from './support/network.js';

/**
 * The payer's most common mistakes on 3 real nodes (node 3 the payee, lnmsg with a 100-byte
 * limit; node 2 without lnmsg): each gives its own sentence and exit code, never a stack trace.
 */
describe('errors that name the cause', () => {
  const suite = networkForSuite(3);

  async function send(destination: string, hash: string | undefined, amountMsat: number, ...flags: string[]) {
    const args = [
      'send',
      '--destination',
      destination,
      '--amount-msat',
      String(amountMsat),
      '--no-sign',
      ...flags,
    ];
    const r = await finished(
      suite.net.lnmsg(1, ...(hash ? [...args, '--payment-hash', hash] : [...args, '--keysend'])),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    return r;
  }

  test('set-up: the payee takes messages of 100 bytes at most', async () => {
    await suite.net.restart(3, '--lnmsg-max-message-bytes=100');
    await suite.net.channelsActive(3);
    await suite.net.channelsActive(2);
  });

  test('a payment hash the payee never made', async () => {
    const r = await send(suite.payee, randomBytes(32).toString('hex'), 1000, '--message', 'hi');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the payee does not know this payment hash/);
  });

  test('a payee that does not run lnmsg', async () => {
    await suite.net.call(2, 'plugin', { subcommand: 'stop', plugin: 'lnmsg-plugin' });
    const r = await send(await suite.net.id(2), randomBytes(32).toString('hex'), 1000, '--message', 'hi');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the payee does not run lnmsg/);
  });

  test('an amount below what the payee asked', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { amount_msat: 5000 });
    const r = await send(suite.payee, hash, 4000, '--message', 'cheap');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the amount is below what the payee asked \(at least 5000 msat\)/);
  });

  test("a message over the payee's limit: refused at its first part, the rest never sent", async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', {});
    const r = await send(suite.payee, hash, 100_000, '--hex', randomBytes(20_000).toString('hex'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the message is over the payee's limit \(at most 100 bytes\)/);
    // The payee refused every part on sight (a piece states the whole size): none is left held.
    const { payments } = await suite.net.call<{ payments: { status: string }[] }>(1, 'listsendpays', {
      payment_hash: hash,
    });
    assert.ok(payments.length > 0);
    assert.deepEqual(new Set(payments.map((p) => p.status)), new Set(['failed']));
  });

  test('a message to this node itself is refused before any routing', async () => {
    const r = await send(await suite.net.id(1), undefined, 1000, '--message', 'to me');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /destination is this node itself/);
  });
});
