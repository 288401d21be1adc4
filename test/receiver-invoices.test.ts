import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcAcceptedRequest, HtlcAcceptedResult } from '../src/cln/hook-types.js';
import {
  decodeFailureMessage,
  decodeHopPayload,
  decodeRefusal,
  encodeChunk,
  incorrectOrUnknownPaymentDetails,
  fromHex,
  RECORD,
  stripLengthPrefix,
  type TlvRecord,
  toHex,
  utf8,
} from '../src/index.js';
import { invoicePaid, invoicePayment } from '../src/receive/hook.js';
import { RECEIVER_DEFAULTS, type ReceiverConfig } from '../src/receive/config.js';
import type { InvoiceBook } from '../src/receive/hashes.js';
import type { NodeInvoice, Settlement } from '../src/receive/node-invoices.js';
import { type InvoicePaymentResult, Receiver } from '../src/receive/receiver.js';
import { type Kv, MemoryKv } from '../src/store/kv.js';
import { MessageStore, type ReceivedMessage } from '../src/store/messages.js';
import { htlcRequest } from './support/htlc.js';
import { lightningdMessages } from './support/recorded.js';
import { v26066Params, v26066Result } from './support/recorded-v26066.js';

const TYPE = 34349334n;
const config = { ...RECEIVER_DEFAULTS, tlvType: TYPE, nodeId: new Uint8Array(33).fill(2) };
const text = (s: string) => utf8.encode(s);

/** lightningd's invoices as the receiver asks for them: made with a preimage, found by hash. */
class Book implements InvoiceBook {
  readonly made = new Map<string, NodeInvoice & { preimage: string }>();
  /** Hashes whose HTLCs lightningd still holds. */
  readonly holding = new Set<string>();
  async create(p: { label: string; expirySeconds: number; preimage: string; amountMsat?: number }) {
    const hash = toHex(sha256(fromHex(p.preimage)));
    const inv = {
      label: p.label,
      paymentSecret: randomBytes(32),
      status: 'unpaid' as const,
      expiresAt: Math.floor(Date.now() / 1000) + p.expirySeconds,
      preimage: p.preimage,
      ...(p.amountMsat === undefined ? {} : { amountMsat: p.amountMsat }),
    };
    this.made.set(hash, inv);
    return {
      bolt11: `lnbcrt1${hash.slice(0, 20)}`,
      payment_hash: hash,
      payment_secret: toHex(inv.paymentSecret),
      expires_at: inv.expiresAt,
    };
  }
  /** An invoice lightningd made, as its recorded `invoice` call asked and answered. */
  recorded(name: string) {
    const r = v26066Result<{ payment_hash: string; payment_secret: string; expires_at: number }>(
      'plain-node3.jsonl',
      name,
    );
    this.made.set(r.payment_hash, {
      label: String(v26066Params('plain-node3.jsonl', name).label),
      paymentSecret: fromHex(r.payment_secret),
      status: 'unpaid',
      expiresAt: r.expires_at,
      preimage: '',
    });
  }
  paid(hash: string) {
    const inv = this.made.get(hash);
    if (inv) this.made.set(hash, { ...inv, status: 'paid' });
  }
  async find(hash: string) {
    return this.made.get(hash);
  }
  async settlement(hash: string): Promise<Settlement> {
    if (this.made.get(hash)?.status === 'paid') return 'paid';
    return this.holding.has(hash) ? 'pending' : 'released';
  }
}

async function setup(kv: Kv = new MemoryKv(), book = new Book(), more: Partial<ReceiverConfig> = {}) {
  const store = new MessageStore(kv);
  const receiver = new Receiver(store, { ...config, ...more }, () => {}, Date.now, book);
  await receiver.open();
  const seen: ReceivedMessage[] = [];
  receiver.onMessage((m) => seen.push(m));
  return { store, receiver, book, kv, seen };
}

/** The final payload of a payment of `secret`'s invoice, with `records`. */
const paying = (secret: Uint8Array, records: TlvRecord[], amountMsat = 1000n) => ({
  amtToForward: amountMsat,
  outgoingCltvValue: 126,
  paymentData: { paymentSecret: secret, totalMsat: 1000n },
  customRecords: records,
});

/** The recorded `invoice_payment` hook request and notification, for our own invoice. */
function recordedInvoicePayment(label: string, preimage: string, msat: number) {
  const [hook] = lightningdMessages('plain-node3.jsonl', 'own').filter(
    (m) => m.rec.step === 'plain-xpay' && m.msg.method === 'invoice_payment' && m.msg.id !== undefined,
  );
  const [note] = lightningdMessages('plain-node3.jsonl', 'own').filter(
    (m) => m.rec.step === 'plain-xpay' && m.msg.method === 'invoice_payment' && m.msg.id === undefined,
  );
  assert.ok(hook?.msg.params && note?.msg.params, 'recorded invoice_payment hook and notification');
  const payment = { ...(hook.msg.params.payment as object), label, preimage, msat };
  return {
    hook: { ...hook.msg.params, payment },
    notification: { ...(note.msg.params.invoice_payment as object), label, preimage, msat },
  };
}

const records = (r: HtlcAcceptedResult) => {
  assert.equal(r.result, 'continue', JSON.stringify(r));
  const payload = (r as { payload?: string }).payload;
  assert.ok(payload, 'a payload handed on');
  return decodeHopPayload(fromHex(payload));
};

const causeOf = (r: HtlcAcceptedResult | InvoicePaymentResult) => {
  const hex = 'failure_message' in r ? r.failure_message : undefined;
  assert.ok(hex, `a failure message in ${JSON.stringify(r)}`);
  const trailing = decodeFailureMessage(fromHex(hex)).trailing;
  assert.ok(trailing, 'a refusal after the failure');
  return decodeRefusal(trailing)?.cause;
};

async function invoiceOf(receiver: Receiver, book: Book, opts: { hold?: boolean } = {}) {
  const inv = await receiver.newBolt11({ amountMsat: 1000, ...opts });
  const made = book.made.get(inv.payment_hash);
  assert.ok(made);
  return { ...inv, secret: made.paymentSecret as Uint8Array, preimage: made.preimage };
}

/** What lightningd fails an HTLC on a hash it does not know with (failmsg_incorrect_or_unknown). */
const unknownTo = (req: HtlcAcceptedRequest) => ({
  result: 'fail',
  failure_message: toHex(
    incorrectOrUnknownPaymentDetails(
      BigInt(req.htlc.amount_msat),
      req.htlc.cltv_expiry - req.htlc.cltv_expiry_relative,
    ),
  ),
});

/** An HTLC of `inv`'s payment with `records`, proving its secret (or another one's). */
const payingHtlc = (hash: string, secret: Uint8Array, recs: TlvRecord[], amountMsat = 1000) =>
  htlcRequest({ paymentHash: hash, amountMsat, payload: paying(secret, recs, BigInt(amountMsat)) });

/** The first 5 bytes of `message` as the first of its pieces, for half of `inv`'s amount. */
const firstPiece = (inv: { payment_hash: string; secret: Uint8Array }, message: Uint8Array) =>
  payingHtlc(
    inv.payment_hash,
    inv.secret,
    [
      {
        type: RECORD.chunk,
        value: encodeChunk({
          token: randomBytes(8),
          offset: 0,
          total: message.length,
          messageId: sha256(message).subarray(0, 16),
          data: message.subarray(0, 5),
        }),
      },
    ],
    500,
  );

/** lightningd settling `inv`: its invoice_payment hook, then (if passed) its notification. */
async function lightningdPays(
  receiver: Receiver,
  book: Book,
  inv: { label: string; preimage: string; payment_hash: string },
  msat = 1000,
) {
  const { hook, notification } = recordedInvoicePayment(inv.label, inv.preimage, msat);
  const answer = await invoicePayment(receiver, hook);
  if ('result' in answer && answer.result === 'continue') {
    book.paid(inv.payment_hash);
    await invoicePaid(receiver, notification);
  }
  return answer;
}

describe('receiver: messages on BOLT 11 invoices', () => {
  test('receivemessage_invoice writes lnmsg record first, then asks lightningd with its own preimage', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book, { hold: true });
    const kept = await store.invoice(inv.payment_hash);
    assert.equal(kept?.paymentSecret, toHex(inv.secret));
    assert.equal(kept?.hold, true);
    assert.equal(kept?.preimage, undefined, 'lightningd settles: lnmsg keeps no preimage');
  });

  test('a part with the secret: stored settling, then handed on without the even records; settled when lightningd says', async () => {
    const { receiver, store, book, seen } = await setup();
    const inv = await invoiceOf(receiver, book);
    const sender = { type: RECORD.sender, value: new Uint8Array(33).fill(3) };
    const r = await receiver.onHtlcAccepted(
      payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: text('on an invoice') }, sender]),
    );
    const handed = records(r);
    assert.deepEqual(
      handed.customRecords.map((x) => x.type),
      [RECORD.sender],
      'the odd record stays, the message goes',
    );
    assert.equal(toHex(handed.paymentData?.paymentSecret ?? new Uint8Array()), toHex(inv.secret));
    assert.equal(
      (await store.message(inv.payment_hash))?.status,
      'settling',
      'stored before lightningd has it',
    );
    assert.equal(seen.length, 0, 'not announced before it settled');
    assert.deepEqual(await lightningdPays(receiver, book, inv), { result: 'continue' });
    const m = await store.message(inv.payment_hash);
    assert.equal(m?.status, 'settled');
    assert.equal(utf8.decode(fromHex(m?.messageHex ?? '')), 'on an invoice');
    assert.equal(m?.label, inv.label);
    assert.deepEqual(
      seen.map((x) => x.status),
      ['settled'],
    );
  });

  test('a part without the secret (a node on the route) gets lightningd’s unknown-hash failure and cannot block the payer', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book);
    const forged = payingHtlc(inv.payment_hash, randomBytes(32), [{ type: TYPE, value: text('forged') }]);
    assert.deepEqual(await receiver.onHtlcAccepted(forged), unknownTo(forged));
    const none = htlcRequest({
      paymentHash: inv.payment_hash,
      payload: {
        amtToForward: 1000n,
        outgoingCltvValue: 126,
        customRecords: [{ type: TYPE, value: text('x') }],
      },
    });
    assert.deepEqual(await receiver.onHtlcAccepted(none), unknownTo(none));
    assert.equal(await store.message(inv.payment_hash), undefined);
    records(
      await receiver.onHtlcAccepted(
        payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: text('real') }]),
      ),
    );
    assert.deepEqual(await lightningdPays(receiver, book, inv), { result: 'continue' });
    assert.equal(utf8.decode(fromHex((await store.message(inv.payment_hash))?.messageHex ?? '')), 'real');
  });

  test('a known preimage is no credential: a keysend-style message on a paid invoice’s hash stores nothing', async () => {
    for (const hold of [false, true]) {
      const { receiver, store, book } = await setup();
      const inv = await invoiceOf(receiver, book, { hold });
      // Paid without a message: every node on its route now knows the preimage.
      assert.deepEqual(await receiver.onHtlcAccepted(payingHtlc(inv.payment_hash, inv.secret, [])), {
        result: 'continue',
      });
      await lightningdPays(receiver, book, inv);
      const forged = htlcRequest({
        paymentHash: inv.payment_hash,
        payload: {
          amtToForward: 1000n,
          outgoingCltvValue: 126,
          customRecords: [
            { type: TYPE, value: text('ship to 1 Attacker Street') },
            { type: RECORD.keysendPreimage, value: fromHex(inv.preimage) },
          ],
        },
      });
      assert.deepEqual(await receiver.onHtlcAccepted(forged), unknownTo(forged), `hold=${hold}`);
      assert.equal(await store.message(inv.payment_hash), undefined, `hold=${hold}: nothing stored`);
    }
  });

  test('once lightningd has an invoice paid, a message on it is refused and nothing is stored', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book);
    await receiver.onHtlcAccepted(payingHtlc(inv.payment_hash, inv.secret, []));
    await lightningdPays(receiver, book, inv);
    const late = await receiver.onHtlcAccepted(
      payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: text('too late') }]),
    );
    assert.equal(causeOf(late), 'already_paid');
    assert.equal(await store.message(inv.payment_hash), undefined);
  });

  test('held: the HTLC waits in htlc_accepted until the payee decides; refused, the invoice is payable again', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book, { hold: true });
    const first = receiver.onHtlcAccepted(
      payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: text('ok?') }]),
    );
    assert.equal((await receiver.wait(inv.payment_hash, 5000))?.status, 'held');
    assert.deepEqual(await receiver.decide(inv.payment_hash, { accept: false, reason: 'no thanks' }), {
      ok: true,
      state: 'refused',
    });
    assert.equal(causeOf(await first), 'refused');
    assert.equal((await store.message(inv.payment_hash))?.status, 'rejected');
    // lightningd never saw those HTLCs: a new message on the invoice is held in its turn, then accepted.
    const next = receiver.wait('any', 5000);
    const second = receiver.onHtlcAccepted(
      payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: text('now?') }]),
    );
    assert.equal((await next)?.status, 'held');
    assert.deepEqual(await receiver.decide(inv.payment_hash, { accept: true }), {
      ok: true,
      state: 'settled',
    });
    records(await second);
    assert.equal((await store.message(inv.payment_hash))?.status, 'settling');
    assert.deepEqual(await lightningdPays(receiver, book, inv), { result: 'continue' });
    const m = await store.message(inv.payment_hash);
    assert.deepEqual([m?.status, utf8.decode(fromHex(m?.messageHex ?? ''))], ['settled', 'now?']);
  });

  test('pieces of a multi-part message on an invoice: held until whole, stored, then all handed on', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book);
    const message = text('a message in two pieces');
    const id = sha256(message).subarray(0, 16);
    const token = randomBytes(8);
    const pieces = [
      encodeChunk({ token, offset: 0, total: message.length, messageId: id, data: message.subarray(0, 10) }),
      encodeChunk({ token, offset: 10, total: message.length, data: message.subarray(10) }),
    ];
    const answers = await Promise.all(
      pieces.map((value) =>
        receiver.onHtlcAccepted(
          payingHtlc(inv.payment_hash, inv.secret, [{ type: RECORD.chunk, value }], 500),
        ),
      ),
    );
    for (const a of answers) assert.equal(records(a).customRecords.length, 0);
    assert.deepEqual(await lightningdPays(receiver, book, inv), { result: 'continue' });
    const m = await store.message(inv.payment_hash);
    assert.equal(m?.messageHex, toHex(message));
    assert.equal(m?.htlcs.length, 2);
  });

  test('the same message record repeated in every part (as LND sends) is one message; a record that differs fails the set', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book);
    const same = [text('one order'), text('one order')];
    const answers = await Promise.all(
      same.map((m) =>
        receiver.onHtlcAccepted(payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: m }], 500)),
      ),
    );
    for (const a of answers) records(a);
    const m = await store.message(inv.payment_hash);
    assert.deepEqual(
      [utf8.decode(fromHex(m?.messageHex ?? '')), m?.amountMsat, m?.htlcs.length],
      ['one order', 1000, 2],
    );
    const other = await invoiceOf(receiver, book);
    const differ = await Promise.all(
      [text('one order'), text('two orders')].map((m) =>
        receiver.onHtlcAccepted(
          payingHtlc(other.payment_hash, other.secret, [{ type: TYPE, value: m }], 500),
        ),
      ),
    );
    for (const a of differ) assert.equal(causeOf(a), 'malformed');
    assert.equal(await store.message(other.payment_hash), undefined);
  });

  test("a held multi-part message may wait only until its earliest HTLC's deadline", async () => {
    const store = new MessageStore(new MemoryKv());
    const receiver = new Receiver(store, { ...config, holdTimeoutSeconds: 1_000_000 });
    await receiver.open();
    const inv = await receiver.newInvoice({ hold: true, amountMsat: 1000 });
    const message = text('two parts, two deadlines');
    const token = randomBytes(8);
    const parts = [
      {
        cltv: 100,
        value: encodeChunk({
          token,
          offset: 0,
          total: message.length,
          messageId: sha256(message).subarray(0, 16),
          data: message.subarray(0, 8),
        }),
      },
      {
        cltv: 20,
        value: encodeChunk({ token, offset: 8, total: message.length, data: message.subarray(8) }),
      },
    ];
    const before = Math.floor(Date.now() / 1000);
    const answers = parts.map(({ cltv, value }) =>
      receiver.onHtlcAccepted(
        htlcRequest({
          paymentHash: inv.paymentHash,
          amountMsat: 500,
          cltvRelative: cltv,
          payload: {
            amtToForward: 500n,
            outgoingCltvValue: 126,
            paymentData: { paymentSecret: randomBytes(32), totalMsat: 1000n },
            customRecords: [{ type: RECORD.chunk, value }],
          },
        }),
      ),
    );
    for (let i = 0; i < 20 && (await store.message(inv.paymentHash))?.status !== 'held'; i++) await tick();
    const held = await store.message(inv.paymentHash);
    // 20 blocks less the 6 kept in hand, at ten minutes a block: not the first part's 94.
    assert.ok(held?.deadline !== undefined && held.deadline <= before + 14 * 600 + 1, String(held?.deadline));
    assert.ok(held.deadline >= before + 14 * 600 - 1, String(held.deadline));
    await receiver.decide(inv.paymentHash, { accept: true });
    assert.deepEqual(
      (await Promise.all(answers)).map((a) => a.result),
      ['resolve', 'resolve'],
    );
  });

  test('a stalled part leaves nothing behind: the invoice is payable again, with or without a message, and deletable', async () => {
    const { receiver, store, book } = await setup(new MemoryKv(), new Book(), { mppTimeoutSeconds: 0.05 });
    const inv = await invoiceOf(receiver, book);
    const message = text('only half of this arrives');
    const half = await receiver.onHtlcAccepted(firstPiece(inv, message));
    assert.ok(half.result === 'fail' && half.failure_message === '0017', JSON.stringify(half));
    assert.equal(await store.message(inv.payment_hash), undefined);
    assert.equal(await receiver.delete(inv.payment_hash), undefined, 'not "held"');
    // Without a message: lightningd has the amount, lnmsg lets it settle.
    assert.deepEqual(await receiver.onHtlcAccepted(payingHtlc(inv.payment_hash, inv.secret, [])), {
      result: 'continue',
    });
    assert.deepEqual(await lightningdPays(receiver, book, inv), { result: 'continue' });
    // With a message, on another invoice whose first attempt stalled the same way.
    const other = await invoiceOf(receiver, book);
    const stalled = await receiver.onHtlcAccepted(
      payingHtlc(other.payment_hash, other.secret, [{ type: TYPE, value: text('x') }], 500),
    );
    assert.equal(stalled.result, 'fail');
    records(
      await receiver.onHtlcAccepted(
        payingHtlc(other.payment_hash, other.secret, [{ type: TYPE, value: text('again') }]),
      ),
    );
    assert.deepEqual(await lightningdPays(receiver, book, other), { result: 'continue' });
    assert.equal((await store.message(other.payment_hash))?.status, 'settled');
  });

  test('lightningd has the whole amount while lnmsg still holds parts of a message: that payment is refused', async () => {
    const { receiver, store, book } = await setup(new MemoryKv(), new Book(), { mppTimeoutSeconds: 0.2 });
    const inv = await invoiceOf(receiver, book);
    const message = text('two pieces, one lost');
    const pending = receiver.onHtlcAccepted(firstPiece(inv, message));
    const { hook } = recordedInvoicePayment(inv.label, inv.preimage, 1000);
    assert.deepEqual(await invoicePayment(receiver, hook), { result: 'reject' });
    assert.equal((await pending).result, 'fail');
    assert.equal(await store.message(inv.payment_hash), undefined);
  });

  test('records of a payment lnmsg refused at invoice_payment go with it: the next payment keeps none of them', async () => {
    const { receiver, store, book } = await setup(new MemoryKv(), new Book(), { mppTimeoutSeconds: 0.2 });
    const inv = await invoiceOf(receiver, book);
    const pending = receiver.onHtlcAccepted(firstPiece(inv, text('two pieces, one lost')));
    const boost = { type: 7629169n, value: text('{"message":"from the refused set"}') };
    assert.deepEqual(await receiver.onHtlcAccepted(payingHtlc(inv.payment_hash, inv.secret, [boost])), {
      result: 'continue',
    });
    const { hook } = recordedInvoicePayment(inv.label, inv.preimage, 1000);
    assert.deepEqual(await invoicePayment(receiver, hook), { result: 'reject' });
    assert.equal((await pending).result, 'fail');
    // Then a payment without records pays the invoice: the refused set's boostagram is not its data.
    await receiver.onHtlcAccepted(payingHtlc(inv.payment_hash, inv.secret, []));
    assert.deepEqual(await lightningdPays(receiver, book, inv), { result: 'continue' });
    assert.equal(await store.message(inv.payment_hash), undefined);
  });

  test('a held message whose HTLCs went with the plugin, then another payment pays the invoice: written rejected, never settled', async () => {
    const kv = new MemoryKv();
    const book = new Book();
    const first = await setup(kv, book);
    const inv = await invoiceOf(first.receiver, book, { hold: true });
    void first.receiver.onHtlcAccepted(
      payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: text('held, then orphaned') }]),
    );
    assert.equal((await first.receiver.wait(inv.payment_hash, 5000))?.status, 'held');
    // The plugin dies: lightningd goes on with the even record in the payload and fails the HTLC.
    first.receiver.close();
    const { receiver, store } = await setup(kv, book);
    assert.deepEqual(await receiver.onHtlcAccepted(payingHtlc(inv.payment_hash, inv.secret, [])), {
      result: 'continue',
    });
    assert.deepEqual(await lightningdPays(receiver, book, inv), { result: 'continue' });
    const m = await store.message(inv.payment_hash);
    assert.equal(m?.status, 'rejected');
    assert.match(m?.rejectReason ?? '', /refunded/);
    // The dead process's hold timer ends with it.
    await first.receiver.decide(inv.payment_hash, { accept: false, reason: 'the old process is gone' });
  });

  test('a refused message deleted: the invoice stays payable with its hold', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book, { hold: true });
    const first = receiver.onHtlcAccepted(
      payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: text('no') }]),
    );
    await receiver.wait(inv.payment_hash, 5000);
    await receiver.decide(inv.payment_hash, { accept: false, reason: 'no thanks' });
    assert.equal((await first).result, 'fail');
    assert.equal((await receiver.delete(inv.payment_hash)) !== 'held', true);
    assert.equal((await store.invoice(inv.payment_hash))?.hold, true);
    const next = receiver.wait('any', 5000);
    const second = receiver.onHtlcAccepted(
      payingHtlc(inv.payment_hash, inv.secret, [{ type: TYPE, value: text('yes?') }]),
    );
    assert.equal((await next)?.status, 'held', 'held again, not settled undecided');
    await receiver.decide(inv.payment_hash, { accept: false, reason: 'still no' });
    assert.equal((await second).result, 'fail');
  });

  test("a message on one of lightningd's ordinary invoices is read with that invoice's secret", async () => {
    const book = new Book();
    const { receiver, store } = await setup(new MemoryKv(), book);
    // Made by lightningd's own `invoice`, not by lnmsg.
    const preimage = toHex(randomBytes(32));
    const made = await book.create({ label: 'shop-42', expirySeconds: 3600, preimage, amountMsat: 1000 });
    records(
      await receiver.onHtlcAccepted(
        payingHtlc(made.payment_hash, fromHex(made.payment_secret), [
          { type: TYPE, value: text('for order 42') },
        ]),
      ),
    );
    const inv = { label: 'shop-42', preimage, payment_hash: made.payment_hash };
    assert.deepEqual(await lightningdPays(receiver, book, inv), { result: 'continue' });
    const m = await store.message(made.payment_hash);
    assert.deepEqual([m?.label, m?.spontaneous, m?.status], ['shop-42', false, 'settled']);
    // Less than that invoice asks: refused, with the amount it takes.
    const asked = await book.create({
      label: 'shop-43',
      expirySeconds: 3600,
      preimage: toHex(randomBytes(32)),
      amountMsat: 5000,
    });
    const low = await receiver.onHtlcAccepted(
      payingHtlc(asked.payment_hash, fromHex(asked.payment_secret), [{ type: TYPE, value: text('cheap') }]),
    );
    assert.equal(causeOf(low), 'amount_too_low');
  });

  test('lnmsg records for a hash with no invoice at all: lightningd’s unknown-hash failure', async () => {
    const { receiver } = await setup();
    const req = payingHtlc(toHex(randomBytes(32)), randomBytes(32), [{ type: TYPE, value: text('?') }]);
    assert.deepEqual(await receiver.onHtlcAccepted(req), unknownTo(req));
  });

  test('one answer whatever the hash: the same malformed part without the secret fails alike on every kind', async () => {
    const { receiver, book } = await setup();
    const lnmsgInvoice = await invoiceOf(receiver, book);
    const nodeInvoice = await book.create({
      label: 'plain',
      expirySeconds: 3600,
      preimage: toHex(randomBytes(32)),
    });
    const seed = await receiver.newInvoice({});
    const badChunk = [{ type: RECORD.chunk, value: Uint8Array.of(1, 2, 3) }];
    const answers = [];
    for (const hash of [lnmsgInvoice.payment_hash, nodeInvoice.payment_hash, toHex(randomBytes(32))]) {
      const req = payingHtlc(hash, randomBytes(32), badChunk);
      const r = await receiver.onHtlcAccepted(req);
      assert.deepEqual(r, unknownTo(req));
      answers.push(r);
    }
    assert.equal(new Set(answers.map((a) => JSON.stringify(a))).size, 1);
    // The seed's hash is its own credential: its payer is told what was wrong.
    assert.equal(
      causeOf(await receiver.onHtlcAccepted(payingHtlc(seed.paymentHash, randomBytes(32), badChunk))),
      'malformed',
    );
  });
});

describe('receiver: the data of every payment (recorded on a production node, v26.06.6)', () => {
  const step = (name: string) =>
    lightningdMessages('plain-node3.jsonl', 'own').filter((m) => m.rec.step === name);
  const hookOf = (name: string) =>
    step(name).find((m) => m.msg.method === 'htlc_accepted' && m.rec.node === 3)?.msg
      .params as unknown as HtlcAcceptedRequest;
  const paymentOf = (name: string) =>
    step(name).find((m) => m.msg.method === 'invoice_payment' && m.msg.id !== undefined)?.msg.params;
  const notificationOf = (name: string) =>
    step(name).find((m) => m.msg.method === 'invoice_payment' && m.msg.id === undefined)?.msg.params
      ?.invoice_payment;
  const recordedBook = () => {
    const book = new Book();
    book.recorded('plain-odd/invoice');
    book.recorded('plain-xpay/invoice');
    return book;
  };

  test('an ordinary invoice paid with a boostagram: handed on untouched, kept once paid, settled on the notification', async () => {
    const { receiver, store, seen } = await setup(new MemoryKv(), recordedBook());
    const htlc = hookOf('plain-sendonion-odd-records');
    assert.deepEqual(await receiver.onHtlcAccepted(htlc), { result: 'continue' });
    assert.deepEqual(await invoicePayment(receiver, paymentOf('plain-sendonion-odd-records')), {
      result: 'continue',
    });
    const hash = htlc.htlc.payment_hash;
    const m = await store.message(hash);
    assert.equal(m?.status, 'settling');
    assert.equal(m?.messageHex, '');
    assert.equal(m?.label, 'fx-plain-odd');
    assert.equal(m?.spontaneous, false);
    const sent = decodeHopPayload(stripLengthPrefix(fromHex(htlc.onion.payload))).customRecords;
    assert.deepEqual(
      m?.records,
      sent.map((r) => ({ type: r.type.toString(), value: toHex(r.value) })),
    );
    await invoicePaid(receiver, notificationOf('plain-sendonion-odd-records'));
    assert.equal((await store.message(hash))?.status, 'settled');
    assert.equal(seen.length, 1);
  });

  test('a forged boostagram on a published invoice’s hash, then the honest payment: nothing forged is stored', async () => {
    const { receiver, store } = await setup(new MemoryKv(), recordedBook());
    const honest = hookOf('plain-sendonion-odd-records');
    const hash = honest.htlc.payment_hash;
    const boost = {
      type: 7629169n,
      value: text('{"message":"FORGED by a routing node","value_msat_total":1}'),
    };
    const forged = htlcRequest({
      paymentHash: hash,
      payload: paying(randomBytes(32), [boost], 6000n),
      amountMsat: 6000,
    });
    // lnmsg lets it through untouched; lightningd fails it ("without secret").
    assert.deepEqual(await receiver.onHtlcAccepted(forged), { result: 'continue' });
    assert.deepEqual(await receiver.onHtlcAccepted(honest), { result: 'continue' });
    await invoicePayment(receiver, paymentOf('plain-sendonion-odd-records'));
    const m = await store.message(hash);
    assert.ok(m, 'the honest records are kept');
    assert.ok(!(m.records ?? []).some((r) => r.value === toHex(boost.value)), 'the forged boostagram is not');
    const sent = decodeHopPayload(stripLengthPrefix(fromHex(honest.onion.payload))).customRecords;
    assert.deepEqual(
      m.records,
      sent.map((r) => ({ type: r.type.toString(), value: toHex(r.value) })),
    );
  });

  test('a forged boostagram, then an honest payment without records: nothing is stored at all', async () => {
    const { receiver, store } = await setup(new MemoryKv(), recordedBook());
    const honest = hookOf('plain-xpay');
    const hash = honest.htlc.payment_hash;
    const boost = { type: 7629169n, value: text('{"message":"FORGED"}') };
    const forged = htlcRequest({
      paymentHash: hash,
      payload: paying(randomBytes(32), [boost], 5000n),
      amountMsat: 5000,
    });
    assert.deepEqual(await receiver.onHtlcAccepted(forged), { result: 'continue' });
    assert.deepEqual(await receiver.onHtlcAccepted(honest), { result: 'continue' });
    await invoicePayment(receiver, paymentOf('plain-xpay'));
    assert.equal(await store.message(hash), undefined);
  });

  test('deleting a records-only entry keeps the invoice’s own record: a message on it is still held', async () => {
    const book = recordedBook();
    const { receiver, store } = await setup(new MemoryKv(), book);
    const htlc = hookOf('plain-sendonion-odd-records');
    const hash = htlc.htlc.payment_hash;
    const made = book.made.get(hash);
    assert.ok(made);
    await store.addInvoice({ paymentHash: hash, amountMsat: 0, createdAt: 0, hold: true, label: made.label });
    await receiver.onHtlcAccepted(htlc);
    await invoicePayment(receiver, paymentOf('plain-sendonion-odd-records'));
    assert.equal((await store.message(hash))?.messageHex, '');
    assert.ok(await receiver.delete(hash));
    assert.equal((await store.invoice(hash))?.hold, true, 'the invoice record and its hold stay');
  });

  test('records of a payment that never completes are never kept', async () => {
    const { receiver, store } = await setup(new MemoryKv(), recordedBook());
    const htlc = hookOf('plain-sendonion-odd-records');
    await receiver.onHtlcAccepted(htlc);
    assert.equal(await store.message(htlc.htlc.payment_hash), undefined);
    // The invoice_payment hook of another payment does not pick them up.
    assert.deepEqual(await invoicePayment(receiver, paymentOf('plain-xpay')), { result: 'continue' });
    assert.equal(await store.message(htlc.htlc.payment_hash), undefined);
  });

  test('xpay of an invoice without records leaves nothing', async () => {
    const { receiver, store } = await setup(new MemoryKv(), recordedBook());
    const htlc = hookOf('plain-xpay');
    assert.deepEqual(await receiver.onHtlcAccepted(htlc), { result: 'continue' });
    assert.deepEqual(await invoicePayment(receiver, paymentOf('plain-xpay')), { result: 'continue' });
    assert.equal(await store.message(htlc.htlc.payment_hash), undefined);
  });

  test('an xkeysend with a message and a boostagram: the message settles with the boostagram kept beside it', async () => {
    const { receiver, store } = await setup();
    const htlc = hookOf('plain-xkeysend');
    const r = await receiver.onHtlcAccepted(htlc);
    assert.equal(r.result, 'resolve');
    const m = await store.message(htlc.htlc.payment_hash);
    assert.equal(m?.spontaneous, true);
    assert.match(utf8.decode(fromHex(m?.messageHex ?? '')), /xkeysend/);
    assert.deepEqual(
      m?.records?.map((x) => x.type),
      ['7629169'],
      'the boostagram kept; the message and the keysend preimage are not repeated',
    );
  });

  for (const outcome of ['paid', 'released', 'pending'] as const) {
    test(`after a restart, a settling payment lightningd ${outcome === 'paid' ? 'settled is written settled' : outcome === 'released' ? 'released is dropped' : 'still holds stays settling'}`, async () => {
      const kv = new MemoryKv();
      const book = recordedBook();
      const first = await setup(kv, book);
      const htlc = hookOf('plain-sendonion-odd-records');
      const hash = htlc.htlc.payment_hash;
      await first.receiver.onHtlcAccepted(htlc);
      await invoicePayment(first.receiver, paymentOf('plain-sendonion-odd-records'));
      first.receiver.close();
      if (outcome === 'paid') book.paid(hash);
      if (outcome === 'pending') book.holding.add(hash);
      const store = new MessageStore(kv);
      const again = new Receiver(store, config, () => {}, Date.now, book);
      await again.open(0);
      for (let i = 0; i < 20 && (await store.message(hash))?.status === 'settling'; i++) await tick();
      const m = await store.message(hash);
      if (outcome === 'paid') assert.equal(m?.status, 'settled');
      if (outcome === 'released') assert.equal(m, undefined);
      if (outcome === 'pending')
        assert.equal(m?.status, 'settling', 'never written refused while lightningd holds it');
      assert.deepEqual(await store.heldHashes(), outcome === 'pending' ? [hash] : []);
      // Whatever lnmsg wrote, lightningd's notification settles it.
      await invoicePaid(again, notificationOf('plain-sendonion-odd-records'));
      if (outcome !== 'released') assert.equal((await store.message(hash))?.status, 'settled');
      again.close();
    });
  }
});

function tick(): Promise<void> {
  return new Promise((r) => setTimeout(r, 5));
}
