import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import { finished, lineMatching, networkForSuite } from './support/network.js';

describe('lnmsg on 3 real nodes in a line (1 -> 2 -> 3)', () => {
  const suite = networkForSuite();

  test('lnmsg receive on node 3 prints an invoice; lnmsg send pays it from node 1 with the message', async () => {
    const recv = suite.net.lnmsg(3, '--json', 'receive', '--timeout', '120');
    const done = finished(recv);
    const [line] = await lineMatching(recv, /^\{"bolt11":.*\}$/m);
    const { bolt11, payment_hash: hash } = JSON.parse(line) as { bolt11: string; payment_hash: string };
    const send = await finished(
      suite.net.lnmsg(
        1,
        '--json',
        'send',
        bolt11,
        '--amount-msat',
        '1000',
        '--message',
        'hello through node 2',
      ),
    );
    assert.equal(send.code, 0, send.stderr);
    const sent = JSON.parse(send.stdout);
    assert.equal(sent.status, 'complete');
    assert.equal(sent.route.length, 2);
    const got = await done;
    assert.equal(got.code, 0, got.stderr);
    const message = JSON.parse(got.stdout.trim().split('\n').at(-1) as string);
    assert.deepEqual(
      [message.message, message.amount, message.status],
      ['hello through node 2', 1000, 'settled'],
    );
    assert.equal(message.verified, true, 'the CLI signs by default and node 3 verifies it');
    const { payments } = await suite.net.call<{ payments: { status: string }[] }>(1, 'listsendpays', {
      payment_hash: hash,
    });
    assert.ok(payments.some((p) => p.status === 'complete'));
  });

  test('a receiver restarted between receivemessage_new and the payment still receives it', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { amount_msat: 2000 });
    await suite.net.restart(3);
    const sent = await suite.net.call<{ status: string }>(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 2000,
      message: 'after a restart',
      retry_for: 90,
    });
    assert.equal(sent.status, 'complete');
    const m = await suite.net.call<{ message: string; amount: number }>(3, 'receivemessage_poll', {
      payment_hash: hash,
    });
    assert.deepEqual([m.message, m.amount], ['after a restart', 2000]);
  });

  test('a second payment to a settled hash is refused and costs nothing', async () => {
    const hash = await suite.net.call<string>(3, 'receivemessage_new');
    const pay = (message: string) =>
      suite.net.call(1, 'sendmessage', {
        destination: suite.payee,
        payment_hash: hash,
        amount_msat: 1000,
        message,
        retry_for: 5,
      });
    await pay('first');
    await assert.rejects(pay('second'), /code 16\d\d|already/);
    // Without the outbox's entry, lightningd's own answer to sendonion tells the hash is paid:
    // for one HTLC, and for each part of a message in several.
    await suite.net.call(1, 'sendmessage_delete', { payment_hash: hash });
    for (const message of ['third', 'x'.repeat(3000)])
      await assert.rejects(pay(message), (e: unknown) => {
        assert.ok(e instanceof RpcError && e.code === 1601, String(e));
        assert.match(e.message, /is already paid/);
        return true;
      });
    const { payments } = await suite.net.call<{ payments: unknown[] }>(1, 'listsendpays', {
      payment_hash: hash,
    });
    assert.equal(payments.length, 1, 'nothing sent after the first');
    const m = await suite.net.call<{ message: string }>(3, 'receivemessage_poll', { payment_hash: hash });
    assert.equal(m.message, 'first');
  });

  test('bad input: a clear error and a non-zero exit', async () => {
    const big = join(suite.net.dir, 'big-message');
    writeFileSync(big, new Uint8Array(70_000));
    const pay = (destination: string, hash: string, ...extra: string[]) => [
      'send',
      '--destination',
      destination,
      '--payment-hash',
      hash,
      ...extra,
    ];
    const cases: [string[], number, RegExp][] = [
      [
        pay(
          `02${'ab'.repeat(32)}`,
          'ab'.repeat(32),
          '--amount-msat',
          '1000',
          '--message',
          'x',
          '--retry-for',
          '2',
        ),
        1,
        /no route|unknown|refused|gave up/i,
      ],
      [pay(suite.payee, 'zz', '--amount-msat', '1000', '--message', 'x'), 2, /--payment-hash/],
      [pay(suite.payee, 'ab'.repeat(32), '--amount-msat', '0', '--message', 'x'), 2, /--amount-msat/],
      [
        pay(suite.payee, 'ab'.repeat(32), '--amount-msat', '1000', '--file', big, '--max-parts', '1'),
        2,
        /does not fit|at most/,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = await finished(suite.net.lnmsg(1, ...args));
      assert.equal(r.code, code, `${args.join(' ').slice(0, 120)}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
