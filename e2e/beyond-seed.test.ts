import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { everyMessage, finished, networkForSuite, spendable } from './support/network.js';

describe('large, held, spontaneous and keysend-interop messages on 3 real nodes', () => {
  const suite = networkForSuite();

  test('a 64 KiB message over 3 hops arrives whole and byte-identical in one payment', async () => {
    const message = randomBytes(64 * 1024);
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { amount_msat: 100_000 });
    const file = join(suite.net.dir, 'message-64k');
    writeFileSync(file, message);
    const r = await finished(suite.net.lnmsgSend(1, suite.payee, hash, 100_000, '--file', file));
    assert.equal(r.code, 0, r.stderr);
    const sent = JSON.parse(r.stdout);
    // 65,536 bytes at about 1,184 a piece over 2 channels (55.4): each piece as large as its route allows.
    assert.ok(sent.parts > 1 && sent.parts <= 56, `${sent.parts} parts`);
    const m = await suite.net.call<{ message_hex: string; htlc_count: number }>(3, 'receivemessage_poll', {
      payment_hash: hash,
    });
    assert.equal(m.message_hex, message.toString('hex'));
    assert.equal(m.htlc_count, sent.parts);
  });

  test('a message the payee rejects leaves the payer where it was', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { hold: true });
    const before = await spendable(suite.net, 1);
    const sending = suite.net.call(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 5000,
      message: 'buy?',
      retry_for: 5,
    });
    const held = await suite.net.call<{ status: string; message: string }>(3, 'receivemessage_wait', {
      payment_hash: hash,
      timeout: 60,
    });
    assert.deepEqual([held.status, held.message], ['held', 'buy?']);
    await suite.net.call(3, 'receivemessage_reject', { payment_hash: hash, reason: 'out of stock' });
    await assert.rejects(sending, /refused/);
    assert.equal(await spendable(suite.net, 1), before);
  });

  test('a held message the payee accepts settles', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { hold: true });
    const sending = suite.net.call<{ status: string }>(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 5000,
      message: 'deliver',
    });
    await suite.net.call(3, 'receivemessage_wait', { payment_hash: hash, timeout: 60 });
    await suite.net.call(3, 'receivemessage_accept', { payment_hash: hash });
    assert.equal((await sending).status, 'complete');
  });

  test("Core Lightning's xkeysend (keysend before v26.06) with extratlvs 34349334 is received by lnmsg", async () => {
    const text = `xkeysend says hi ${Date.now()}`;
    await suite.net.coreKeysend(1, {
      destination: suite.payee,
      amount_msat: 1000,
      extratlvs: { '34349334': Buffer.from(text).toString('hex') },
    });
    const messages = await everyMessage(suite.net);
    assert.ok(messages.some((m) => m.message === text && m.spontaneous));
  });

  test('a spontaneous lnmsg message (keysend) to a node without lnmsg is accepted by its keysend support', async () => {
    await suite.net.call(2, 'plugin', { subcommand: 'stop', plugin: 'lnmsg-plugin' });
    try {
      const r = await suite.net.call<{ status: string; spontaneous: boolean }>(1, 'sendmessage', {
        destination: await suite.net.id(2),
        amount_msat: 1000,
        message: 'to a stock node',
      });
      assert.deepEqual([r.status, r.spontaneous], ['complete', true]);
    } finally {
      await suite.net.call(2, 'plugin', {
        subcommand: 'start',
        plugin: (await import('./support/network.js')).PLUGIN,
      });
    }
  });
});
