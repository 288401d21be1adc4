import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { maxMessageBytes } from '../src/index.js';
import { jsonLines } from './support/cli.js';
import { projectRoot } from './support/shared.js';

const bin = join(projectRoot, 'bin', 'lnmsg');

function lnmsg(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('capacity --json lists 1..20 hops with the library values', () => {
  const r = lnmsg('capacity', '--json');
  assert.equal(r.code, 0);
  const rows = jsonLines<{ hops: number; maxMessageBytes: number }>(r.stdout);
  assert.deepEqual(
    rows.map((x) => x.hops),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  for (const row of rows) assert.equal(row.maxMessageBytes, maxMessageBytes(row.hops));
});

test('capacity options refine the table', () => {
  const r = lnmsg('capacity', '--json', '--amount-msat', '1000', '--blockheight', '132');
  const rows = jsonLines<{ hops: number; maxMessageBytes: number }>(r.stdout);
  assert.equal(rows[1]?.maxMessageBytes, 1200);
});

test('capacity prints a table stating its assumptions', () => {
  const r = lnmsg('capacity');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /amount 1000000 msat/);
  assert.match(r.stdout, /^ {3}1 +\d+$/m);
});

test('demo shows the message only at the payee', () => {
  const r = lnmsg('--json', 'demo', 'a secret for Carol');
  assert.equal(r.code, 0);
  const d = JSON.parse(r.stdout) as {
    hops: { final: boolean; messageVisible: boolean; sees: { message?: string } }[];
  };
  assert.equal(d.hops.length, 3);
  assert.deepEqual(
    d.hops.map((h) => [h.final, h.messageVisible, h.sees.message]),
    [
      [false, false, undefined],
      [false, false, undefined],
      [true, true, 'a secret for Carol'],
    ],
  );
});

test('an unreachable node: exit 3 and the socket path tried, no stack trace', () => {
  const r = lnmsg('--lightning-dir', '/nonexistent/ln', '--network', 'regtest', 'receive');
  assert.equal(r.code, 3);
  assert.match(r.stderr, /\/nonexistent\/ln\/regtest\/lightning-rpc/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('bad flags: exit 2 naming the flag, before touching the node', () => {
  const dest = `02${'ee'.repeat(32)}`;
  const sendWith = (...extra: string[]) => [
    'send',
    '--destination',
    dest,
    '--payment-hash',
    'a'.repeat(64),
    ...extra,
  ];
  const cases: [string[], RegExp][] = [
    [['send', '--destination', 'nope'], /--destination/],
    [['send', '--destination', dest, '--payment-hash', 'xyz'], /--payment-hash/],
    [sendWith('--amount-msat', '0'), /--amount-msat/],
    [sendWith('--amount-msat', '-5'), /--amount-msat/],
    [sendWith('--amount-msat', '5', '--hex', 'abc'), /--hex/],
    [sendWith('--amount-msat', '5'), /missing --message/],
    [sendWith('--keysend', '--amount-msat', '5', '--message', 'x'), /--keysend/],
    [['capacity', '--amount-msat', 'lots'], /--amount-msat/],
  ];
  for (const [args, re] of cases) {
    const r = lnmsg('--lightning-dir', '/nonexistent', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('--help names each command with the arguments it takes', () => {
  const r = lnmsg('--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^ {2}accept <payment_hash> +Settle/m);
  assert.match(r.stdout, /^ {2}reject <payment_hash> \[reason\] +Refuse/m);
  assert.doesNotMatch(r.stdout, /unused/);
  const reject = lnmsg('reject', '--help');
  assert.match(reject.stdout, /^Usage: lnmsg reject \[options\] <payment_hash> \[reason\]$/m);
  assert.match(lnmsg('inbox', '--help').stdout, /--full/);
});

test('accept and reject check the payment hash before touching the node', () => {
  for (const args of [['accept', 'xyz'], ['reject', 'ab', 'sold out'], ['accept']]) {
    const r = lnmsg('--lightning-dir', '/nonexistent', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /payment_hash/);
  }
});

test('--json prints one JSON object per line, for every command without a node too', () => {
  for (const args of [['demo', 'hi'], ['capacity']]) {
    const r = lnmsg('--json', ...args);
    assert.equal(r.code, 0);
    for (const l of jsonLines<unknown>(r.stdout))
      assert.ok(typeof l === 'object' && l !== null && !Array.isArray(l));
  }
});
