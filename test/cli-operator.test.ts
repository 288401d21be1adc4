import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { messageProblem, nodeIdProblem } from '../src/cln/params.js';
import { toHex, utf8 } from '../src/index.js';
import { RECORD } from '../src/wire/message-records.js';
import {
  cliNode,
  deliver,
  jsonLines,
  LNMSG,
  listsendpaysBefore,
  lnmsg,
  type Output,
  output,
  PAID,
  recordedPayment,
  paidSendFlags,
  until,
} from './support/cli.js';
import { FIXTURES, recordedAnswer, resultLike, rpcRecord } from './support/fake-lightningd.js';
import { preimageAndHash } from './support/htlc.js';
import type { Node } from './support/plugin-node.js';
import { needsShared } from './support/shared.js';

/** Hex of the right length and prefix that is no point on secp256k1: only the curve check refuses it. */
const NOT_A_POINT = `02${'11'.repeat(32)}`;

/** What watch says once every message from then on will be shown. */
const WATCHING = /waiting for new messages/;

/** A stack trace line, which an operator must never see. */
const STACK = /^\s+at /m;

describe('the lnmsg CLI as an operator meets it', needsShared(...FIXTURES), () => {
  let node: Node;
  before(async () => {
    node = await cliNode();
  });
  after(() => node.stop());

  const socket = () => node.fake.socketPath;
  const newHash = (params: Record<string, unknown> = {}) => node.result<string>('receivemessage_new', params);
  const calls = (method: string) => node.fake.requests.filter((r) => r.method === method).length;

  test('a reader that stops reading ends every command at once with 0, and no stack trace', async () => {
    // More than one inbox page, so inbox writes again after the reader has gone.
    for (let i = 0; i < 30; i++) await deliver(node, await newHash(), utf8.encode(`message ${i}`));
    const gone = async (
      args: string[],
      meanwhile: (child: ChildProcess, out: Output) => Promise<unknown> = async () => {},
    ) => {
      const child = lnmsg(socket(), args);
      child.stdout?.destroy(); // the reader is gone before the first write
      const out = output(child);
      await meanwhile(child, out);
      assert.equal(await out.done, 0, `${args.join(' ')}: ${out.stderr()}`);
      assert.doesNotMatch(out.stderr(), STACK, args.join(' '));
    };
    for (const args of [
      ['--help'],
      ['demo'],
      ['--json', 'capacity'],
      ['inbox'],
      ['--json', 'inbox'],
      ['receive'],
      paidSendFlags('--message', 'to a closed pipe'),
    ])
      await gone(args);
    await gone(['watch'], async (child, out) => {
      await until(out, child, WATCHING);
      await deliver(node, await newHash(), utf8.encode('seen by nobody'));
    });

    // As typed: `| head -1` takes one line and leaves; pipefail would show any other status.
    const shell = spawn(
      'bash',
      ['-c', `set -o pipefail; "$0" "$1" --rpc-file "$2" inbox | head -1`, process.execPath, LNMSG, socket()],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const piped = output(shell);
    assert.equal(await piped.done, 0, piped.stderr());
    assert.equal(piped.stdout().toString().split('\n').length, 2, 'one line, then the end');
    assert.doesNotMatch(piped.stderr(), STACK);
  });

  test('a closed stderr changes no exit status: a failure still says so', async () => {
    const child = spawn(process.execPath, [LNMSG, '--rpc-file', '/nonexistent/lightning-rpc', 'inbox'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr.destroy();
    assert.equal(await output(child).done, 3);
  });

  test('watch rides out a lightningd restart: says so, catches up, prints each message once', async () => {
    const child = lnmsg(socket(), ['--json', 'watch']);
    const out = output(child);
    await until(out, child, WATCHING);
    await deliver(node, await newHash(), utf8.encode('before the restart'));
    await until(out, child, /before the restart/);

    await node.restart(() => until(out, child, /lightningd went away: reconnecting…/));
    // Watch gets through only once this message is stored: it must find it by catching up.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    for (const method of ['receivemessage_list', 'receivemessage_wait'])
      node.fake.handle(method, async (req) => {
        await gate;
        return node.passThrough(req);
      });
    await deliver(node, await newHash(), utf8.encode('while watch was away'));
    open();
    await until(out, child, /while watch was away/);
    await until(out, child, /reconnected/);
    await deliver(node, await newHash(), utf8.encode('after the restart'));
    await until(out, child, /after the restart/);
    child.kill('SIGINT');
    await out.done;

    const printed = jsonLines<{ message: string }>(out.stdout().toString()).map((m) => m.message);
    assert.deepEqual(printed, ['before the restart', 'while watch was away', 'after the restart']);
    assert.deepEqual(out.stderr().trim().split('\n'), [
      'waiting for new messages (Ctrl-C to stop)…',
      'lightningd went away: reconnecting…',
      'reconnected',
    ]);
  });

  test('receive rides out a lightningd restart while it waits', async () => {
    const child = lnmsg(socket(), ['--json', 'receive']);
    const out = output(child);
    await until(out, child, /"payment_hash":"[0-9a-f]{64}"/);
    const hash = (/"payment_hash":"([0-9a-f]{64})"/.exec(out.text()) as RegExpExecArray)[1] as string;
    await node.restart(() => until(out, child, /lightningd went away: reconnecting…/));
    await deliver(node, hash, utf8.encode('paid while receive was away'));
    assert.equal(await out.done, 0, out.text());
    const last = jsonLines<{ message: string }>(out.stdout().toString()).at(-1);
    assert.equal(last?.message, 'paid while receive was away');
  });

  test('receive --timeout ends when its time is up even while lightningd stays away', async () => {
    const child = lnmsg(socket(), ['--json', 'receive', '--timeout', '2']);
    const out = output(child);
    await until(out, child, /"payment_hash":"[0-9a-f]{64}"/);
    let code: number | null = null;
    // lightningd comes back only once receive has ended.
    await node.restart(async () => {
      code = await out.done;
    });
    assert.notEqual(code, 0, out.text());
    assert.match(out.stderr(), /lightningd went away: reconnecting…/);
  });

  test('receive --hold notices a decision made elsewhere and says what it was', async () => {
    const child = lnmsg(socket(), ['receive', '--hold', '--amount-msat', '1000'], true);
    const out = output(child);
    await until(out, child, /payment hash: [0-9a-f]{64}/);
    const hash = (/payment hash: ([0-9a-f]{64})/.exec(out.text()) as RegExpExecArray)[1] as string;
    const answer = deliver(node, hash, utf8.encode('decide me'));
    await until(out, child, /Settle this payment/);
    await node.result('receivemessage_reject', { payment_hash: hash, reason: 'sold out' });
    await until(out, child, /payment rejected elsewhere: sold out/);
    assert.equal(await out.done, 0, out.text());
    assert.ok('failure_message' in ((await answer).result as object), 'lightningd is told to fail it');

    // Deciding again: one line saying why nothing could be done.
    const again = output(lnmsg(socket(), ['accept', hash]));
    assert.equal(await again.done, 2);
    assert.match(again.stderr(), new RegExp(`^lnmsg: payment_hash ${hash}: [^\\n]*sold out\\n$`));
  });

  test('inbox marks spontaneous messages and cuts long ones unless --full; --json stays exact', async () => {
    const long = 'é'.repeat(600);
    const binary = new Uint8Array(300).fill(0xff);
    await deliver(node, await newHash(), utf8.encode(long));
    await deliver(node, await newHash(), binary);
    const keysend = preimageAndHash();
    await deliver(node, keysend.hash, utf8.encode('unasked'), [
      { type: RECORD.keysendPreimage, value: keysend.preimage },
    ]);

    const shown = output(lnmsg(socket(), ['inbox']));
    assert.equal(await shown.done, 0);
    const text = shown.stdout().toString();
    assert.ok(text.includes(`message: ${'é'.repeat(500)}… (1200 bytes; --full to show all)\n`));
    assert.ok(text.includes(`(hex, 300 bytes): ${'f'.repeat(500)}… (300 bytes; --full to show all)\n`));
    assert.match(text, new RegExp(`${keysend.hash}\\nreceived 1000 msat \\(settled, spontaneous\\)\\n`));

    const full = output(lnmsg(socket(), ['inbox', '--full']));
    assert.equal(await full.done, 0);
    assert.ok(full.stdout().toString().includes(`message: ${long}\n`));
    assert.ok(
      full
        .stdout()
        .toString()
        .includes(`: ${toHex(binary)}\n`),
    );

    const json = output(lnmsg(socket(), ['--json', 'inbox']));
    assert.equal(await json.done, 0);
    const listed = jsonLines<{ message: string; spontaneous: boolean; payment_hash: string }>(
      json.stdout().toString(),
    );
    assert.ok(listed.some((m) => m.message === long));
    assert.equal(listed.find((m) => m.payment_hash === keysend.hash)?.spontaneous, true);
  });

  test('a node id that is no point, and an empty message: refused by flags, prompts and RPC alike', async () => {
    const refused = async (args: string[], says: RegExp) => {
      const out = output(lnmsg(socket(), args));
      assert.equal(await out.done, 2, `${args.join(' ')}: ${out.stderr()}`);
      assert.match(out.stderr(), says);
    };
    const before = calls('sendmessage');
    const { hash } = recordedPayment();
    await refused(
      ['send', '--destination', NOT_A_POINT, '--payment-hash', hash, '--amount-msat', '1', '--message', 'x'],
      new RegExp(`^lnmsg: --destination "${NOT_A_POINT}": ${nodeIdProblem(NOT_A_POINT)}\\n$`),
    );
    const empty = messageProblem(new Uint8Array(0)) as string;
    await refused(paidSendFlags('--message', ''), new RegExp(`--message "": ${empty}`));
    await refused(paidSendFlags('--hex', ''), new RegExp(`--hex "": ${empty}`));
    const emptyFile = join(node.dir, 'empty');
    writeFileSync(emptyFile, '');
    await refused(paidSendFlags('--file', emptyFile), new RegExp(`--file "${emptyFile}": ${empty}`));
    assert.equal(calls('sendmessage'), before, 'nothing reached the plugin');

    // The same words at the prompts; an empty answer is not taken.
    const asked = lnmsg(socket(), ['send', '--no-sign'], true);
    const out = output(asked);
    await until(out, asked, /Payee node id/);
    asked.stdin?.write(`${NOT_A_POINT}\r`);
    await until(out, asked, /not a point on the secp256k1 curve/);
    asked.stdin?.write(`${'\x7f'.repeat(NOT_A_POINT.length)}${recordedPayment().destination}\r`);
    await until(out, asked, /Payment hash/);
    asked.stdin?.write(`${hash}\r`);
    await until(out, asked, /Amount in msat/);
    asked.stdin?.write('5000\r');
    await until(out, asked, /Message/);
    asked.stdin?.write('\r');
    await until(out, asked, new RegExp(empty));
    asked.stdin?.write('typed after all\r');
    assert.equal(await out.done, 0, out.text().slice(-500));
    assert.equal(calls('sendmessage'), before + 1);

    // And in the plugin's parameters, named as the RPC names them.
    const rpc = await node.call('sendmessage', { destination: NOT_A_POINT, msatoshi: 1, message: 'x' });
    assert.equal(rpc.error?.code, -32602);
    assert.equal(rpc.error?.message, `destination: ${nodeIdProblem(NOT_A_POINT)}, got "${NOT_A_POINT}"`);
  });

  test('a payment held by the payee: after a while the payer is told it waits for the decision', async () => {
    const { hash } = recordedPayment();
    let settle!: () => void;
    const decided = new Promise<void>((resolve) => {
      settle = resolve;
    });
    // lightningd shows the HTLC out (pending) until the payee settles it.
    let held = false;
    node.fake.handle('waitsendpay', async (req) => {
      held = true;
      await decided;
      held = false;
      return recordedAnswer(`${PAID}/waitsendpay`, req.id);
    });
    node.fake.handle('listsendpays', (req) => {
      const { payments } = rpcRecord('listsendpays').reply.result as { payments: Record<string, unknown>[] };
      return held
        ? resultLike('listsendpays', req.id, {
            payments: [{ ...payments[0], payment_hash: hash, status: 'pending' }],
          })
        : listsendpaysBefore(req);
    });
    try {
      const child = lnmsg(socket(), paidSendFlags('--message', 'held at the payee'), true);
      const out: Output = output(child);
      await until(out, child, /waiting for the payee to decide…/);
      settle();
      assert.equal(await out.done, 0, out.text().slice(-300));
      assert.match(out.text(), /paid 5000 msat/);
    } finally {
      node.fake.replyWith('waitsendpay', `${PAID}/waitsendpay`);
      node.fake.handle('listsendpays', listsendpaysBefore);
    }
  });
});
