import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { everyMessage, networkForSuite } from './support/network.js';

const TOTAL = Number(process.env.LNMSG_LOAD_MESSAGES ?? 1000);

describe(`load: ${TOTAL} messages over 3 hops`, () => {
  const suite = networkForSuite();

  async function run(senders: number, t: { diagnostic(s: string): void }) {
    const hashes: string[] = [];
    for (let i = 0; i < TOTAL; i++) hashes.push(await suite.net.call<string>(3, 'receivemessage_new'));
    const started = process.hrtime.bigint();
    let next = 0;
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: senders }, async () => {
        for (let i = next++; i < TOTAL; i = next++) {
          await suite.net
            .call(1, 'sendmessage', {
              destination: suite.payee,
              payment_hash: hashes[i],
              amount_msat: 1000,
              message: `load #${i}`,
              sign: false,
            })
            .catch((e: Error) => failures.push(e.message));
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const messages = await everyMessage(suite.net);
    const wanted = new Set(hashes);
    const got = messages.filter((m) => wanted.has(m.payment_hash));
    const delivered = new Set(got.map((m) => m.payment_hash)).size;
    const duplicated = got.length - delivered;
    const lost = TOTAL - delivered;
    t.diagnostic(
      `${senders} sender(s): delivered ${delivered}, duplicated ${duplicated}, lost ${lost}, ${(TOTAL / seconds).toFixed(1)} messages/s`,
    );
    assert.deepEqual(
      { delivered, duplicated, lost, failures: failures.slice(0, 3) },
      { delivered: TOTAL, duplicated: 0, lost: 0, failures: [] },
    );
  }

  test('back to back', (t) => run(1, t));
  test('4 senders at once', (t) => run(4, t));
});
