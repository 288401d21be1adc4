import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import {
  APP_RECORD,
  CHUNK_TOKEN_BYTES,
  concat,
  encodeTlvRecord,
  encodeTruncated,
  encodeUint,
  fromHex,
  RECORD,
  toHex,
  type TlvRecord,
  utf8,
} from '../src/index.js';
import { finalPayload, type Outcome, ownOnion } from './support/attacker.js';
import { everyMessage, invoiceStatus, networkForSuite, until } from './support/network.js';

const INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS = 0x400f;
const AMOUNT = 10_000;

interface Entry {
  payment_hash: string;
  message: string;
  status: string;
  records?: { type: string; value: string }[];
  boostagram?: Record<string, unknown>;
}

interface Bolt11 {
  bolt11: string;
  payment_hash: string;
}

const text = (type: bigint, s: string): TlvRecord => ({ type, value: utf8.encode(s) });
const randomHex = () => toHex(randomBytes(32));

/**
 * Node 2 of a line 1-2-3 attacks node 3 (the payee, lnmsg) with onions of its own (`createonion`,
 * `sendonion` over channel 2-3), around node 1's honest payments (issue 18).
 */
describe('a routing node forging payment data (node 2 of 1-2-3 attacks the payee)', () => {
  const suite = networkForSuite();
  let labels = 0;
  /** A fresh invoice of node 3: lightningd's own `invoice`, or lnmsg's `receivemessage_invoice`. */
  const invoice = (kind: 'lightningd' | 'lnmsg', extra: Record<string, unknown> = {}, amount = AMOUNT) =>
    kind === 'lightningd'
      ? suite.net.call<Bolt11>(3, 'invoice', {
          amount_msat: amount,
          label: `shop-${++labels}`,
          description: 'a donation',
        })
      : suite.net.call<Bolt11>(3, 'receivemessage_invoice', { amount_msat: amount, ...extra });
  const poll = (hash: string) =>
    suite.net.call<Entry | null>(3, 'receivemessage_poll', { payment_hash: hash });
  /** The attacker's HTLC failed at the payee, as an unknown payment hash does. */
  const refusedAtPayee = (o: Outcome, what: string) => {
    assert.equal(o.settled, false, `${what}: the forged HTLC settled`);
    assert.deepEqual([o.erringIndex, o.failcode], [1, INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS], what);
  };
  /** Nothing node 3 stored anywhere holds `marker`, as text or as a record's hex. */
  const storesNo = async (marker: string) => {
    const all = JSON.stringify(await everyMessage(suite.net));
    assert.ok(!all.includes(marker) && !all.includes(toHex(utf8.encode(marker))), `stored: ${all}`);
  };

  test("a published invoice's hash with a fake boostagram, then the honest payment: nothing fake is stored", async () => {
    const boost = { message: 'FORGED by a routing node', action: 'boost', value_msat_total: AMOUNT };
    const forged = text(APP_RECORD.boostagram, JSON.stringify(boost));
    const credentials = {
      'no payment_data': {},
      'a wrong payment secret': {
        paymentData: { paymentSecret: randomBytes(32), totalMsat: BigInt(AMOUNT) },
      },
    };
    for (const kind of ['lightningd', 'lnmsg'] as const) {
      for (const [cred, more] of Object.entries(credentials)) {
        const what = `${kind}'s invoice, ${cred}`;
        const inv = await invoice(kind);
        const attack = finalPayload(AMOUNT, { ...more, customRecords: [forged] });
        refusedAtPayee(await ownOnion(suite.net, 2, 3, inv.payment_hash, AMOUNT, attack), what);
        await suite.net.call(1, 'xpay', { invstring: inv.bolt11 });
        assert.equal(await invoiceStatus(suite.net, inv.payment_hash), 'paid', what);
        // xpay carries no record: there is nothing of this payment to keep.
        assert.equal(await poll(inv.payment_hash), null, what);
      }
    }
    // The honest payer's own message, after the forgery: kept alone.
    const inv = await invoice('lnmsg');
    const attack = finalPayload(AMOUNT, { customRecords: [forged] });
    refusedAtPayee(await ownOnion(suite.net, 2, 3, inv.payment_hash, AMOUNT, attack), 'before a message');
    await suite.net.call(1, 'sendmessage', { bolt11: inv.bolt11, message: 'the real one', sign: false });
    await until('the message settled', async () => (await poll(inv.payment_hash))?.status === 'settled');
    const m = (await poll(inv.payment_hash)) as Entry;
    assert.equal(m.message, 'the real one');
    assert.equal(m.boostagram, undefined);
    assert.deepEqual(m.records ?? [], []);
    await storesNo('FORGED');
  });

  test('a keysend with the known preimage of a paid invoice stores nothing and fails', async () => {
    const forged = 'ship to 1 Attacker Street';
    /** Each target is paid honestly by node 1, which tells node 2 (on the route) the preimage. */
    const targets: [string, () => Promise<{ hash: string; preimage: string }>][] = [
      ['lnmsg invoice paid by xpay', () => xpaid(invoice('lnmsg'))],
      ['lnmsg invoice with hold=true paid by xpay', () => xpaid(invoice('lnmsg', { hold: true }))],
      ["lightningd's invoice paid by xpay", () => xpaid(invoice('lightningd'))],
      [
        'lnmsg invoice paid with a message',
        async () => {
          const inv = await invoice('lnmsg');
          const r = await suite.net.call<{ payment_preimage: string }>(1, 'sendmessage', {
            bolt11: inv.bolt11,
            message: 'the real order',
            sign: false,
          });
          await until('settled', async () => (await poll(inv.payment_hash))?.status === 'settled');
          return { hash: inv.payment_hash, preimage: r.payment_preimage };
        },
      ],
    ];
    for (const [what, paid] of targets) {
      const { hash, preimage } = await paid();
      const before = await poll(hash);
      const attack = finalPayload(AMOUNT, {
        customRecords: [
          { type: RECORD.keysendPreimage, value: fromHex(preimage) },
          text(RECORD.message, forged),
        ],
      });
      refusedAtPayee(await ownOnion(suite.net, 2, 3, hash, AMOUNT, attack), what);
      assert.deepEqual(await poll(hash), before, `${what}: the stored entry is unchanged`);
    }
    await storesNo(forged);

    async function xpaid(made: Promise<Bolt11>) {
      const inv = await made;
      const r = await suite.net.call<{ payment_preimage: string }>(1, 'xpay', { invstring: inv.bolt11 });
      return { hash: inv.payment_hash, preimage: r.payment_preimage };
    }
  });

  test("the same malformed part on lnmsg's, lightningd's and nobody's hash gets byte-identical failures", async (t) => {
    const amount = 1000;
    const hashes = {
      "lnmsg's invoice": (await invoice('lnmsg', {}, amount)).payment_hash,
      "lightningd's invoice": (await invoice('lightningd', {}, amount)).payment_hash,
      'a random hash': randomHex(),
    };
    const message = text(RECORD.message, 'probe');
    const rec = (type: bigint, value: Uint8Array) => encodeTlvRecord({ type, value });
    const token = randomBytes(CHUNK_TOKEN_BYTES);
    // A first piece that says 4 bytes in all but carries 10.
    const overlong = concat(token, encodeUint(0n, 4), encodeUint(4n, 4), randomBytes(16), randomBytes(10));
    // `plain`: lnmsg's records without the secret, which get lightningd's own answer to a payment
    // without records (the first part): incorrect_or_unknown_payment_details, nothing after it.
    const parts: { what: string; part: (cltv: number) => Uint8Array; plain?: true }[] = [
      { what: 'no custom record (lightningd answers)', part: finalPayload(amount) },
      {
        what: 'a chunk record too short to read',
        part: finalPayload(amount, {
          customRecords: [{ type: RECORD.chunk, value: Uint8Array.of(1, 2, 3, 4, 5) }],
        }),
        plain: true,
      },
      {
        what: 'a chunk running past its message',
        part: finalPayload(amount, { customRecords: [{ type: RECORD.chunk, value: overlong }] }),
        plain: true,
      },
      {
        what: 'a well-formed message without payment_data',
        part: finalPayload(amount, { customRecords: [message] }),
        plain: true,
      },
      {
        what: 'a message with a wrong payment secret',
        part: finalPayload(amount, {
          paymentData: { paymentSecret: randomBytes(32), totalMsat: BigInt(amount) },
          customRecords: [message],
        }),
        plain: true,
      },
      {
        what: 'amt_to_forward above what arrived',
        part: finalPayload(5 * amount, { customRecords: [message] }),
        plain: true,
      },
      {
        what: 'an unknown even record beside the message',
        part: finalPayload(amount, { customRecords: [message, { type: 70_000n, value: Uint8Array.of(1) }] }),
      },
      {
        what: 'records out of order',
        part: (cltv) =>
          concat(
            rec(4n, encodeTruncated(cltv, 4)),
            rec(2n, encodeTruncated(amount, 8)),
            encodeTlvRecord(message),
          ),
      },
    ];
    // Every part on every hash first, so that one run shows every difference.
    const differ: string[] = [];
    let reference: Outcome | undefined;
    for (const { what, part, plain } of parts) {
      const outcomes: Record<string, Outcome> = {};
      for (const [kind, hash] of Object.entries(hashes))
        outcomes[kind] = await ownOnion(suite.net, 2, 3, hash, amount, part);
      t.diagnostic(`${what}: ${JSON.stringify(outcomes)}`);
      const [first, ...others] = Object.values(outcomes) as Outcome[];
      reference ??= first;
      const answered = first?.settled === false && first.erringIndex === 1;
      if (!answered || others.some((o) => !isDeepStrictEqual(o, first))) differ.push(what);
      else if (plain && !isDeepStrictEqual(first, reference))
        differ.push(`${what} (not lightningd's answer)`);
    }
    assert.equal(reference?.failcode, INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS);
    assert.deepEqual(differ, [], 'parts whose failures differ by hash or from lightningd’s own');
    for (const hash of Object.values(hashes)) assert.equal(await poll(hash), null);
  });
});
