import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sharedDir } from '../test/support/shared.js';
import { type Network, networkForSuite, PLUGIN } from './support/network.js';

const RECORDER = join(sharedDir, 'tools', 'recorder', 'recorder.py');

/** Every htlc_accepted request node k's recorder saw, as raw JSON text. */
function hookRequests(net: Network, k: number): string[] {
  return readFileSync(join(net.nodeDir(k), 'regtest', 'recorder.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('htlc_accepted') && l.includes('"dir": "in"'));
}

describe('privacy: only the payee sees the message', () => {
  // 4 nodes: 3 hops after the payer, 2 of them intermediate. The recorder goes first in the hook
  // chain, so it also sees what lnmsg on node 4 settles.
  const suite = networkForSuite(4, [`--plugin=${PLUGIN}`, `--plugin=${RECORDER}`], {
    RECORDER_HOOK_BEFORE: 'keysend,lnmsg-plugin',
  });

  test('a 3-hop payment: the message bytes appear in the payee hook request only', async () => {
    const message = randomBytes(300).toString('hex');
    const hash = await suite.net.call<string>(4, 'receivemessage_new');
    const sent = await suite.net.call<{ route: unknown[] }>(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 1000,
      message_hex: message,
    });
    assert.equal(sent.route.length, 3);
    for (const k of [2, 3]) {
      const seen = hookRequests(suite.net, k).filter((l) => l.includes(hash));
      assert.ok(seen.length >= 1, `node ${k} forwarded the HTLC`);
      for (const l of seen) assert.ok(!l.toLowerCase().includes(message), `node ${k} never sees the message`);
    }
    const atPayee = hookRequests(suite.net, 4).filter((l) => l.includes(hash));
    assert.ok(
      atPayee.some((l) => l.toLowerCase().includes(message)),
      'the payee sees it',
    );
  });

  test('failure replies returned to the payer do not echo the message', async () => {
    const message = randomBytes(200).toString('hex');
    const hash = await suite.net.call<string>(4, 'receivemessage_new', { amount_msat: 50_000 });
    const err = await suite.net
      .call(1, 'sendmessage', {
        destination: suite.payee,
        payment_hash: hash,
        amount_msat: 1000,
        message_hex: message,
        retry_for: 5,
      })
      .then(
        () => undefined,
        (e: Error & { data?: unknown }) => e,
      );
    assert.ok(err, 'an underpaid message is refused');
    const said = JSON.stringify({ message: err.message, data: err.data });
    assert.match(said, /incorrect_or_unknown_payment_details/);
    assert.ok(!said.includes(message));
    const { payments } = await suite.net.call<{ payments: Record<string, unknown>[] }>(1, 'listsendpays', {
      payment_hash: hash,
    });
    assert.ok(!JSON.stringify(payments).includes(message));
  });
});
