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
  fromHex,
  RECORD,
  stripLengthPrefix,
  type TlvRecord,
  toHex,
  utf8,
} from '../src/index.js';
import { invoicePaid, invoicePayment } from '../src/receive/hook.js';
import type { NodeInvoice } from '../src/receive/node-invoices.js';
import {
  type InvoiceBook,
  type InvoicePaymentResult,
  RECEIVER_DEFAULTS,
  Receiver,
} from '../src/receive/receiver.js';
import { type Kv, MemoryKv } from '../src/store/kv.js';
import { MessageStore, type ReceivedMessage } from '../src/store/messages.js';
import { htlcRequest } from './support/htlc.js';
import { lightningdMessages } from './support/recorded.js';

const TYPE = 34349334n;
const config = { ...RECEIVER_DEFAULTS, tlvType: TYPE, nodeId: new Uint8Array(33).fill(2) };
const text = (s: string) => utf8.encode(s);

/** lightningd's invoices as the receiver asks for them: made with a preimage, found by hash. */
class Book implements InvoiceBook {
  readonly made = new Map<string, NodeInvoice & { preimage: string }>();
  async create(p: { label: string; expirySeconds: number; preimage: string }) {
    const hash = toHex(sha256(fromHex(p.preimage)));
    const inv = {
      label: p.label,
      paymentSecret: randomBytes(32),
      status: 'unpaid' as const,
      expiresAt: Math.floor(Date.now() / 1000) + p.expirySeconds,
      preimage: p.preimage,
    };
    this.made.set(hash, inv);
    return {
      bolt11: `lnbcrt1${hash.slice(0, 20)}`,
      payment_hash: hash,
      payment_secret: toHex(inv.paymentSecret),
      expires_at: inv.expiresAt,
    };
  }
  async find(hash: string) {
    return this.made.get(hash);
  }
}

async function setup(kv: Kv = new MemoryKv(), book = new Book()) {
  const store = new MessageStore(kv);
  const receiver = new Receiver(store, config, () => {}, Date.now, book);
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
  return { ...inv, secret: made.paymentSecret, preimage: made.preimage };
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

  test('a part with the secret is handed on without the even records; the message settles when lightningd says', async () => {
    const { receiver, store, book, seen } = await setup();
    const inv = await invoiceOf(receiver, book);
    const sender = { type: RECORD.sender, value: new Uint8Array(33).fill(3) };
    const r = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: inv.payment_hash,
        payload: paying(inv.secret, [{ type: TYPE, value: text('on an invoice') }, sender]),
      }),
    );
    const handed = records(r);
    assert.deepEqual(
      handed.customRecords.map((x) => x.type),
      [RECORD.sender],
      'the odd record stays, the message goes',
    );
    assert.equal(toHex(handed.paymentData?.paymentSecret ?? new Uint8Array()), toHex(inv.secret));
    assert.equal(
      await store.message(inv.payment_hash),
      undefined,
      'nothing stored before lightningd has the amount',
    );

    const { hook, notification } = recordedInvoicePayment(inv.label, inv.preimage, 1000);
    assert.deepEqual(await invoicePayment(receiver, hook), { result: 'continue' });
    assert.equal((await store.message(inv.payment_hash))?.status, 'settling');
    assert.equal(seen.length, 0, 'not announced before it settled');
    await invoicePaid(receiver, notification);
    const m = await store.message(inv.payment_hash);
    assert.equal(m?.status, 'settled');
    assert.equal(utf8.decode(fromHex(m?.messageHex ?? '')), 'on an invoice');
    assert.equal(m?.label, inv.label);
    assert.deepEqual(
      seen.map((x) => x.status),
      ['settled'],
    );
  });

  test('a part without the secret (a node on the route) is refused as an unknown hash and cannot block the payer', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book);
    const forged = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: inv.payment_hash,
        payload: paying(randomBytes(32), [{ type: TYPE, value: text('forged') }]),
      }),
    );
    assert.equal(causeOf(forged), 'unknown_hash');
    const none = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: inv.payment_hash,
        payload: {
          amtToForward: 1000n,
          outgoingCltvValue: 126,
          customRecords: [{ type: TYPE, value: text('x') }],
        },
      }),
    );
    assert.equal(causeOf(none), 'unknown_hash');
    const real = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: inv.payment_hash,
        payload: paying(inv.secret, [{ type: TYPE, value: text('real') }]),
      }),
    );
    records(real);
    const { hook } = recordedInvoicePayment(inv.label, inv.preimage, 1000);
    assert.deepEqual(await invoicePayment(receiver, hook), { result: 'continue' });
    assert.equal(utf8.decode(fromHex((await store.message(inv.payment_hash))?.messageHex ?? '')), 'real');
  });

  test('held: lightningd waits on invoice_payment until the payee decides', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book, { hold: true });
    records(
      await receiver.onHtlcAccepted(
        htlcRequest({
          paymentHash: inv.payment_hash,
          payload: paying(inv.secret, [{ type: TYPE, value: text('ok?') }]),
        }),
      ),
    );
    const { hook } = recordedInvoicePayment(inv.label, inv.preimage, 1000);
    const answer = invoicePayment(receiver, hook);
    for (let i = 0; i < 20 && (await store.message(inv.payment_hash))?.status !== 'held'; i++) await tick();
    assert.equal((await store.message(inv.payment_hash))?.status, 'held');
    assert.deepEqual(await receiver.decide(inv.payment_hash, { accept: false, reason: 'no thanks' }), {
      ok: true,
      state: 'refused',
    });
    const r = await answer;
    assert.equal(causeOf(r), 'refused');
    assert.equal((await store.message(inv.payment_hash))?.status, 'rejected');
  });

  test('pieces of a multi-part message on an invoice: each handed on, stored when paid', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book);
    const message = text('a message in two pieces');
    const id = sha256(message).subarray(0, 16);
    const token = randomBytes(8);
    const pieces = [
      encodeChunk({ token, offset: 0, total: message.length, messageId: id, data: message.subarray(0, 10) }),
      encodeChunk({ token, offset: 10, total: message.length, data: message.subarray(10) }),
    ];
    for (const value of pieces) {
      const handed = records(
        await receiver.onHtlcAccepted(
          htlcRequest({
            paymentHash: inv.payment_hash,
            amountMsat: 500,
            payload: paying(inv.secret, [{ type: RECORD.chunk, value }], 500n),
          }),
        ),
      );
      assert.equal(handed.customRecords.length, 0);
    }
    const { hook } = recordedInvoicePayment(inv.label, inv.preimage, 1000);
    assert.deepEqual(await invoicePayment(receiver, hook), { result: 'continue' });
    const m = await store.message(inv.payment_hash);
    assert.equal(m?.messageHex, toHex(message));
    assert.equal(m?.htlcs.length, 2);
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

  test('paid before every byte is in: refused, nothing stored', async () => {
    const { receiver, store, book } = await setup();
    const inv = await invoiceOf(receiver, book);
    const message = text('only half of this arrives');
    records(
      await receiver.onHtlcAccepted(
        htlcRequest({
          paymentHash: inv.payment_hash,
          payload: paying(inv.secret, [
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
          ]),
        }),
      ),
    );
    const { hook } = recordedInvoicePayment(inv.label, inv.preimage, 1000);
    assert.equal(causeOf(await invoicePayment(receiver, hook)), 'malformed');
    assert.equal(await store.message(inv.payment_hash), undefined);
  });

  test("a message on one of lightningd's ordinary invoices is read with that invoice's secret", async () => {
    const book = new Book();
    const { receiver, store } = await setup(new MemoryKv(), book);
    // Made by lightningd's own `invoice`, not by lnmsg.
    const preimage = toHex(randomBytes(32));
    const made = await book.create({ label: 'shop-42', expirySeconds: 3600, preimage });
    records(
      await receiver.onHtlcAccepted(
        htlcRequest({
          paymentHash: made.payment_hash,
          payload: paying(fromHex(made.payment_secret), [{ type: TYPE, value: text('for order 42') }]),
        }),
      ),
    );
    const { hook } = recordedInvoicePayment('shop-42', preimage, 1000);
    assert.deepEqual(await invoicePayment(receiver, hook), { result: 'continue' });
    const m = await store.message(made.payment_hash);
    assert.equal(m?.label, 'shop-42');
    assert.equal(m?.spontaneous, false);
  });

  test('lnmsg records for a hash with no invoice at all: unknown_hash', async () => {
    const { receiver } = await setup();
    const r = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: toHex(randomBytes(32)),
        payload: paying(randomBytes(32), [{ type: TYPE, value: text('?') }]),
      }),
    );
    assert.equal(causeOf(r), 'unknown_hash');
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

  test('an ordinary invoice paid with a boostagram: handed on untouched, kept once paid, settled on the notification', async () => {
    const { receiver, store, seen } = await setup();
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

  test('records of a payment that never completes are never kept', async () => {
    const { receiver, store } = await setup();
    const htlc = hookOf('plain-sendonion-odd-records');
    await receiver.onHtlcAccepted(htlc);
    assert.equal(await store.message(htlc.htlc.payment_hash), undefined);
    // The invoice_payment hook of another payment does not pick them up.
    assert.deepEqual(await invoicePayment(receiver, paymentOf('plain-xpay')), { result: 'continue' });
    assert.equal(await store.message(htlc.htlc.payment_hash), undefined);
  });

  test('xpay of an invoice without records leaves nothing', async () => {
    const { receiver, store } = await setup();
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

  for (const paid of [true, false]) {
    test(`after a restart, a settling payment lightningd ${paid ? 'settled is written settled' : 'did not settle is dropped'}`, async () => {
      const kv = new MemoryKv();
      const first = await setup(kv);
      const htlc = hookOf('plain-sendonion-odd-records');
      await first.receiver.onHtlcAccepted(htlc);
      await invoicePayment(first.receiver, paymentOf('plain-sendonion-odd-records'));
      first.receiver.close();
      const store = new MessageStore(kv);
      const again = new Receiver(store, config);
      await again.open(0, async () => paid);
      for (let i = 0; i < 20 && (await store.message(htlc.htlc.payment_hash))?.status === 'settling'; i++)
        await tick();
      const m = await store.message(htlc.htlc.payment_hash);
      if (paid) assert.equal(m?.status, 'settled');
      else assert.equal(m, undefined);
      assert.deepEqual(await store.heldHashes(), []);
      again.close();
    });
  }
});

function tick(): Promise<void> {
  return new Promise((r) => setTimeout(r, 5));
}
