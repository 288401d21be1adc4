import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { escapeUntrusted } from '../src/cli/safe-text.js';
import { utf8 } from '../src/index.js';
import {
  cliNode,
  deliver,
  lnmsg,
  output,
  PAID,
  recordedPayment,
  paidSendFlags,
  until,
} from './support/cli.js';
import { toHex } from '../src/index.js';
import { incorrectOrUnknownPaymentDetails } from '../src/onion/failure.js';
import { encodeRefusal } from '../src/wire/refusal.js';
import { errorLike, FIXTURES, rpcRecord } from './support/fake-lightningd.js';
import { paidHashRun } from './support/paid-hash.js';
import type { Node } from './support/plugin-node.js';
import { needsShared } from './support/shared.js';

/**
 * Fails if `bytes` (what the CLI wrote) hold anything a terminal would act on: C0 but tab and
 * newline, DEL, C1 (UTF-8 0xC2 0x80..0x9F), U+202E (UTF-8 0xE2 0x80 0xAE).
 */
function assertTerminalSafe(bytes: Buffer, what: string): void {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const raw =
      b <= 0x08 ||
      (b >= 0x0b && b <= 0x1f) ||
      b === 0x7f ||
      (b === 0xc2 && (bytes[i + 1] as number) >= 0x80 && (bytes[i + 1] as number) <= 0x9f) ||
      (b === 0xe2 && bytes[i + 1] === 0x80 && bytes[i + 2] === 0xae);
    assert.ok(
      !raw,
      `${what}: raw control byte 0x${b.toString(16)} at ${i} in ${JSON.stringify(bytes.toString())}`,
    );
  }
}

describe('the lnmsg CLI against the plugin, behind a fake lightningd', needsShared(...FIXTURES), () => {
  let node: Node;
  before(async () => {
    node = await cliNode();
  });
  after(() => node.stop());

  test('lnmsg receive prints the invoice and its payment hash, then the message once the payment settles', async () => {
    const child = lnmsg(node.fake.socketPath, ['--json', 'receive', '--amount-msat', '1000']);
    const out = output(child);
    await until(out, child, /"payment_hash":"[0-9a-f]{64}"/);
    const hash = (/"payment_hash":"([0-9a-f]{64})"/.exec(out.text()) as RegExpExecArray)[1] as string;
    assert.match(out.text(), /"bolt11":"lnbcrt/);
    const answer = await deliver(node, hash, utf8.encode('hello, CLI'));
    assert.equal((answer.result as { result: string }).result, 'continue');
    assert.equal(await out.done, 0, out.text().slice(-300));
    const last = JSON.parse(out.text().trim().split('\n').at(-1) as string);
    assert.deepEqual([last.message, last.amount, last.status], ['hello, CLI', 1000, 'settled']);
  });

  test('lnmsg send with every flag never prompts, and prints the payment', async () => {
    const child = lnmsg(node.fake.socketPath, ['--json', ...paidSendFlags('--message', 'hi')]);
    child.stdin?.end();
    const out = output(child);
    assert.equal(await out.done, 0, out.text().slice(-300));
    const sent = JSON.parse(out.text());
    assert.equal(sent.status, 'complete');
    const reply = rpcRecord(`${PAID}/waitsendpay`).reply.result as { payment_preimage: string };
    assert.equal(sent.payment_preimage, reply.payment_preimage);
    // The CLI signs by default: the plugin asked lightningd to sign.
    assert.ok(node.fake.requests.some((r) => r.method === 'signmessage'));
  });

  test('lnmsg send to a hash this node already paid: exit 1, nothing sent', async () => {
    // lightningd's record says it is paid, not the outbox (the earlier send is deleted from it):
    // sendonion answers with that payment's success, as recorded, and sends nothing.
    await node.result('sendmessage_delete', [recordedPayment().hash]);
    node.fake.handle('sendonion', paidHashRun('cln-v26.06.6').reply('again-same-part/sendonion'));
    const waits = () => node.fake.requests.filter((r) => r.method === 'waitsendpay').length;
    const before = waits();
    const child = lnmsg(node.fake.socketPath, paidSendFlags('--message', 'again'));
    const out = output(child);
    assert.equal(await out.done, 1, out.text().slice(-300));
    assert.match(out.text(), /already paid/);
    assert.doesNotMatch(out.text(), /\n\s+at /, 'no stack trace');
    assert.equal(waits(), before);
    node.fake.replyWith('sendonion', `${PAID}/sendonion`);
  });

  test('lnmsg send asks for what is missing, on a terminal', async () => {
    const { destination, hash } = recordedPayment();
    const child = lnmsg(node.fake.socketPath, ['send', '--no-sign'], true);
    const out = output(child);
    for (const [question, answer] of [
      [/Payee node id/, destination],
      [/Payment hash/, hash],
      [/Amount in msat/, '5000'],
      [/Message/, 'typed at the prompt'],
    ] as const) {
      await until(out, child, question);
      child.stdin?.write(`${answer}\r`);
    }
    assert.equal(await out.done, 0, out.text().slice(-300));
    assert.match(out.text(), /paid 5000 msat .* with a 19-byte message/, out.text().slice(-300));
    const sent = node.fake.requests.filter((r) => r.method === 'sendmessage').at(-1);
    assert.equal(
      (sent?.params as { message_hex: string }).message_hex,
      Buffer.from('typed at the prompt').toString('hex'),
    );
  });

  test('a message full of control characters: receive and inbox print it escaped, no line forged', async () => {
    const forged = `sender: 02${'ee'.repeat(32)} (verified)`;
    // What a hostile payer can put in a message: title, clear screen, overwrite, forged lines, C1, bidi.
    const message = `hi\x1b]0;pwned\x07\x1b[2J\rreceived 999999 msat (settled)\n${forged}\u009b31m\x7f\0\u202eevil\u2028${forged}\\n`;
    // Command-line arguments cannot hold NUL; the label is the payee's own but shown the same way.
    const label = `order\x1b[2J\n${forged}`;
    const reason = `sold out\r${forged}\u0085\0`;
    const lineStarts =
      /^(|invoice: |payment hash: |pay it with: |waiting for the message|held: decide with |received \d+ msat \([\w ,]+\)$|message: |label: |reason: |\d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f]{64}$)/;
    const assertOwnLines = (text: string, what: string) => {
      for (const l of text.split('\n'))
        assert.match(l, lineStarts, `${what}: a line starts with the sender's text`);
      assert.doesNotMatch(text, /^(sender|received 999999)/m, what);
    };

    const child = lnmsg(node.fake.socketPath, [
      'receive',
      '--amount-msat',
      '1000',
      '--hold',
      '--label',
      label,
    ]);
    const out = output(child);
    await until(out, child, /payment hash: [0-9a-f]{64}/);
    const hash = (/payment hash: ([0-9a-f]{64})/.exec(out.text()) as RegExpExecArray)[1] as string;
    const answer = deliver(node, hash, utf8.encode(message));
    // Not on a terminal, `receive --hold` prints the held message and how to decide, then exits.
    assert.equal(await out.done, 0, out.text().slice(-300));
    assertTerminalSafe(out.stdout(), 'receive');
    assertOwnLines(out.stdout().toString(), 'receive');
    assert.ok(
      out
        .stdout()
        .toString()
        .includes(`\nmessage: ${escapeUntrusted(message)}\n`),
    );

    // The reason can come from a decide command or URL: set here through the plugin, NUL and all.
    await node.result('receivemessage_reject', { payment_hash: hash, reason });
    assert.ok('failure_message' in ((await answer).result as object), 'lightningd is told to fail it');

    const inbox = lnmsg(node.fake.socketPath, ['inbox']);
    const listed = output(inbox);
    assert.equal(await listed.done, 0, listed.text().slice(-300));
    const text = listed.stdout().toString();
    assertTerminalSafe(listed.stdout(), 'inbox');
    assertOwnLines(text, 'inbox');
    for (const shown of [message, label, reason].map(escapeUntrusted))
      assert.ok(text.includes(`: ${shown}\n`), `${shown} in ${text}`);

    // --json stays exact: JSON.stringify's escapes, and the values as the sender wrote them.
    const json = lnmsg(node.fake.socketPath, ['--json', 'inbox']);
    const exact = output(json);
    assert.equal(await exact.done, 0, exact.text().slice(-300));
    const lines = exact.text().trim().split('\n');
    const m = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => x.payment_hash === hash);
    assert.deepEqual(
      [m?.message, m?.label, m?.reject_reason, m?.status],
      [message, label, reason, 'rejected'],
    );
  });

  test('lnmsg outbox: a block per message sent, text from elsewhere escaped; --json exact', async () => {
    const { destination } = recordedPayment();
    const message = `hi\x1b]0;pwned\x07\r\ncomplete: 1 msat\u009b31m\u202eevil\u2028`;
    // What an lnmsg payee says when it refuses: its reason, after 0x400F's fields (BOLT 4 extra bytes).
    const reason = `sold out\x1b[2J\r\nerror 0: forged\u0085`;
    const refusal = incorrectOrUnknownPaymentDetails(1000n, 108, encodeRefusal({ cause: 'refused', reason }));
    const sent = await node.result<{ payment_hash: string }>('sendmessage', {
      destination,
      amount_msat: 5000, // the recorded route's amount
      message,
    });
    node.fake.handle('waitsendpay', (req) => {
      const { data } = rpcRecord('htlc-mpp-sendonion/waitsendpay-part1').reply.error as { data: object };
      return errorLike('htlc-mpp-sendonion/waitsendpay-part1', req.id, {
        data: { ...data, raw_message: toHex(refusal) },
      });
    });
    const refused = await node.call('sendmessage', { destination, amount_msat: 5000, message: 'and this?' });
    node.fake.replyWith('waitsendpay', `${PAID}/waitsendpay`);
    const error = refused.error as { code: number; message: string };
    assert.ok(error.message.includes(reason), error.message);

    const child = lnmsg(node.fake.socketPath, ['outbox']);
    const out = output(child);
    assert.equal(await out.done, 0, out.text().slice(-300));
    const text = out.stdout().toString();
    assertTerminalSafe(out.stdout(), 'outbox');
    const lineStarts =
      /^(|\d{4}-\d\d-\d\dT[\d:.]+Z to 0[23][0-9a-f]{64}( \(keysend\))?$|payment hash: [0-9a-f]{64}$|(pending|complete|failed): \d+ msat( \+ \d+ msat fee, \d+ parts?)?$|error \d+: |message: |message \(hex)/;
    for (const l of text.split('\n')) assert.match(l, lineStarts, 'a line starts with text from elsewhere');
    assert.ok(text.includes(`\nmessage: ${escapeUntrusted(message)}\n`), text);
    assert.ok(text.includes(`\nerror 1601: ${escapeUntrusted(error.message)}\n`), text);
    assert.match(
      text,
      new RegExp(`payment hash: ${sent.payment_hash}\ncomplete: 5000 msat \\+ 1 msat fee, 1 part\n`),
    );

    const json = lnmsg(node.fake.socketPath, ['--json', 'outbox']);
    const exact = output(json);
    assert.equal(await exact.done, 0, exact.text().slice(-300));
    type Listed = { message: string; error?: { message: string } };
    const { messages } = await node.result<{ messages: Listed[] }>('sendmessage_list', { limit: 1000 });
    assert.deepEqual(
      exact.text().trim().split('\n'),
      messages.map((m) => JSON.stringify(m)),
    );
    const [ok, failed] = messages.slice(-2);
    assert.deepEqual([ok?.message, failed?.error], [message, { code: 1601, message: error.message }]);
  });
});
