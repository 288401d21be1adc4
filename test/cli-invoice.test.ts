import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { toHex, utf8 } from '../src/index.js';
import { cliNode, lnmsg, output } from './support/cli.js';
import { FIXTURES } from './support/fake-lightningd.js';
import type { Node } from './support/plugin-node.js';
import { v26066Params, v26066Reply } from './support/recorded-v26066.js';
import { needsShared } from './support/shared.js';

/**
 * `lnmsg send <bolt11> [message]` against the plugin behind the fake lightningd, whose `decode`
 * answers as v26.06.6 did for an invoice that expired an hour after it was made (so the plugin
 * refuses it whenever this runs: the invoice reached it, read).
 */
describe('lnmsg send with an invoice', needsShared(...FIXTURES), () => {
  let node: Node;
  const bolt11 = v26066Params('invoice-decode.jsonl', 'decode-preimage').string as string;
  before(async () => {
    node = await cliNode();
    node.fake.handle('decode', v26066Reply('invoice-decode.jsonl', 'decode-preimage'));
  });
  after(() => node.stop());

  const sendmessages = () => node.fake.requests.filter((r) => r.method === 'sendmessage');
  const run = async (args: string[]) => {
    const out = output(lnmsg(node.fake.socketPath, ['send', ...args]));
    return { code: await out.done, stderr: out.stderr().toString() };
  };

  test('the invoice and the message as arguments go to sendmessage as bolt11; its refusal is one line, exit 2', async () => {
    const r = await run([bolt11, 'paying your invoice']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^lnmsg: .*bolt11: the invoice expired \d+ seconds ago/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.deepEqual(sendmessages().at(-1)?.params, {
      bolt11,
      message_hex: toHex(utf8.encode('paying your invoice')),
      sign: true,
    });
  });

  test('--amount-msat for an amountless invoice, the message from a flag, --no-sign', async () => {
    await run([bolt11, '--amount-msat', '7sat', '--hex', '00ff', '--no-sign']);
    assert.deepEqual(sendmessages().at(-1)?.params, {
      bolt11,
      amount_msat: 7000,
      message_hex: '00ff',
      sign: false,
    });
  });

  test('refused by the CLI, nothing sent: not an invoice, a payee or hash beside it, the message twice', async () => {
    const before = sendmessages().length;
    const refused = async (args: string[], says: RegExp) => {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, says);
    };
    await refused(['hello', 'there'], /<invoice> "hello": must be a BOLT 11 invoice/);
    await refused([bolt11, 'hi', '--destination', `02${'ee'.repeat(32)}`], /give no --destination/);
    await refused([bolt11, 'hi', '--keysend'], /give no --destination, --payment-hash or --keysend/);
    await refused([bolt11, 'hi', '--message', 'again'], /give the message once/);
    await refused([bolt11, 'hi', '--amount-msat', 'lots'], /--amount-msat "lots"/);
    assert.equal(sendmessages().length, before);
  });
});
