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
  // The recorder goes first in the hook chain, so it also sees what lnmsg on node 3 settles.
  const suite = networkForSuite(3, [`--plugin=${PLUGIN}`, `--plugin=${RECORDER}`], {
    RECORDER_HOOK_BEFORE: 'keysend,lnmsg-plugin',
  });

  test('a 3-hop payment: the message bytes appear in the payee hook request only', async () => {
    const message = randomBytes(300).toString('hex');
    const hash = await suite.net.call<string>(3, 'receivemessage_new');
    await suite.net.call(1, 'sendmessage', {
      destination: await suite.net.id(3),
      payment_hash: hash,
      amount_msat: 1000,
      message_hex: message,
    });
    const atNode2 = hookRequests(suite.net, 2).filter((l) => l.includes(hash));
    const atNode3 = hookRequests(suite.net, 3).filter((l) => l.includes(hash));
    assert.ok(atNode2.length >= 1 && atNode3.length >= 1, 'both nodes saw the HTLC');
    for (const l of atNode2) assert.ok(!l.toLowerCase().includes(message), 'node 2 never sees the message');
    assert.ok(
      atNode3.some((l) => l.toLowerCase().includes(message)),
      'node 3 sees it',
    );
  });

  test('failure replies returned to the payer do not echo the message', async () => {
    const message = randomBytes(200).toString('hex');
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { amount_msat: 50_000 });
    const err = await suite.net
      .call(1, 'sendmessage', {
        destination: await suite.net.id(3),
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
