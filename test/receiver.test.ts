import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcAcceptedResult } from '../src/cln/hook-types.js';
import {
  decodeFailureMessage,
  decodeRefusal,
  encodeChunk,
  encodeFinalPayload,
  incorrectOrUnknownPaymentDetails,
  encodeUint,
  fromHex,
  RECORD,
  signedBytes,
  signedPaymentBytes,
  signedText,
  type TlvRecord,
  toHex,
  utf8,
  withLengthPrefix,
} from '../src/index.js';
import { commandDecider } from '../src/receive/decider.js';
import { type InvoiceBook, NO_INVOICES } from '../src/receive/hashes.js';
import { RECEIVER_DEFAULTS, type ReceiverConfig } from '../src/receive/config.js';
import { type Decision, Receiver } from '../src/receive/receiver.js';
import { signedMessageDigest } from '../src/receive/signature.js';
import { type Kv, MemoryKv } from '../src/store/kv.js';
import { ENTRY_BYTES, MessageStore } from '../src/store/messages.js';
import { htlcRequest, preimageAndHash } from './support/htlc.js';
import { needsShared } from './support/shared.js';

const TYPE = 34349334n;
const me = secp256k1.utils.randomSecretKey();
const myId = secp256k1.getPublicKey(me, true);

async function setup(config: Partial<ReceiverConfig> = {}, kv: Kv = new MemoryKv()) {
  const store = new MessageStore(kv);
  const receiver = new Receiver(store, { ...RECEIVER_DEFAULTS, tlvType: TYPE, nodeId: myId, ...config });
  await receiver.open();
  return { store, receiver, kv };
}

/** The same node after a restart: a new store and receiver over the same datastore. */
async function restart(kv: Kv, config: ReceiverConfig, graceMs = 0) {
  const store = new MessageStore(kv);
  const receiver = new Receiver(store, config);
  await receiver.open(graceMs);
  return { store, receiver };
}

const text = (s: string) => utf8.encode(s);
const final = (records: TlvRecord[], extra: object = {}) => ({
  amtToForward: 1000n,
  outgoingCltvValue: 126,
  customRecords: records,
  ...extra,
});
const isFail = (r: HtlcAcceptedResult, code = '400f') =>
  r.result === 'fail' && r.failure_message.startsWith(code);
/** The lnmsg refusal after an incorrect_or_unknown_payment_details' fields. */
const refusalOf = (r: HtlcAcceptedResult) => {
  if (r.result !== 'fail') return undefined;
  const trailing = decodeFailureMessage(fromHex(r.failure_message)).trailing;
  return trailing && decodeRefusal(trailing);
};

describe('receiver: single-part messages', needsShared('fixtures'), () => {
  test('settles with the preimage after storing the message', async () => {
    const { receiver, store } = await setup();
    const inv = await receiver.newInvoice({ amountMsat: 1000 });
    const r = await receiver.onHtlcAccepted(
      htlcRequest({ paymentHash: inv.paymentHash, payload: final([{ type: TYPE, value: text('hi') }]) }),
    );
    assert.deepEqual(r, { result: 'resolve', payment_key: inv.preimage });
    assert.equal(toHex(sha256(fromHex(inv.preimage))), inv.paymentHash);
    const m = await store.message(inv.paymentHash);
    assert.equal(m?.messageHex, toHex(text('hi')));
    assert.equal(m?.status, 'settled');
  });

  test('a store that cannot write never lets the HTLC settle', async () => {
    const kv = new MemoryKv();
    const { receiver, store } = await setup({}, kv);
    const inv = await receiver.newInvoice({});
    kv.create = async () => {
      throw new Error('disk full');
    };
    const r = await receiver.onHtlcAccepted(
      htlcRequest({ paymentHash: inv.paymentHash, payload: final([{ type: TYPE, value: text('x') }]) }),
    );
    assert.ok(isFail(r), JSON.stringify(r));
    assert.equal(await store.message(inv.paymentHash), undefined);
  });

  test('a replayed HTLC gets the same answer; another HTLC to a paid hash is refused', async () => {
    const { receiver, store, kv } = await setup();
    const inv = await receiver.newInvoice({});
    const req = htlcRequest({
      paymentHash: inv.paymentHash,
      payload: final([{ type: TYPE, value: text('once') }]),
    });
    const first = await receiver.onHtlcAccepted(req);
    // A restarted plugin: a new Receiver over the same datastore.
    const { receiver: again } = await restart(kv, receiver.config);
    assert.deepEqual(await again.onHtlcAccepted(req), first);
    assert.equal((await store.list('created', 0, 100)).length, 1);
    const other = htlcRequest({
      paymentHash: inv.paymentHash,
      payload: final([{ type: TYPE, value: text('twice') }]),
    });
    assert.ok(isFail(await again.onHtlcAccepted(other)));
    assert.equal((await store.message(inv.paymentHash))?.messageHex, toHex(text('once')));
  });

  test('refuses short amounts, near expiry and oversize messages', async () => {
    const { receiver, store } = await setup({ maxMessageBytes: 10 });
    const cases: [
      string,
      Parameters<typeof htlcRequest>[0] extends infer V ? Omit<V & object, 'paymentHash'> : never,
    ][] = [
      ['short amount', { payload: final([{ type: TYPE, value: text('a') }]), amountMsat: 999 }],
      [
        'onion claims more than the HTLC',
        { payload: final([{ type: TYPE, value: text('a') }], { amtToForward: 5000n }), amountMsat: 1000 },
      ],
      ['near expiry', { payload: final([{ type: TYPE, value: text('a') }]), cltvRelative: 3 }],
      ['oversize', { payload: final([{ type: TYPE, value: new Uint8Array(11) }]) }],
    ];
    for (const [name, v] of cases) {
      const inv = await receiver.newInvoice({ amountMsat: 1000 });
      const r = await receiver.onHtlcAccepted(htlcRequest({ paymentHash: inv.paymentHash, ...v }));
      assert.ok(isFail(r), `${name}: ${JSON.stringify(r)}`);
      assert.equal(await store.message(inv.paymentHash), undefined, `${name}: nothing stored`);
    }
  });

  test('a payload that does not parse goes on unchanged, whatever the hash: lightningd fails it as without lnmsg', async () => {
    const { receiver, store } = await setup();
    const cases: [string, string][] = [
      ['truncated payload', '29020203e8'],
      ['garbage payload', 'ffffffffffffffffffff'],
      ['length prefix beyond the bytes', 'fd0fff0202'],
      ['unknown even type below 65536', '06020203e80a0100'],
      [
        'unknown even custom type beside the message',
        toHex(
          withLengthPrefix(
            encodeFinalPayload({
              amtToForward: 1000n,
              outgoingCltvValue: 0,
              customRecords: [
                { type: 70_000n, value: text('?') },
                { type: TYPE, value: text('a') },
              ],
            }),
          ),
        ),
      ],
    ];
    for (const [name, payload] of cases) {
      const ours = await receiver.newInvoice({ amountMsat: 1000 });
      for (const paymentHash of [ours.paymentHash, toHex(randomBytes(32))]) {
        const r = await receiver.onHtlcAccepted(htlcRequest({ paymentHash, payload }));
        assert.deepEqual(r, { result: 'continue' }, name);
      }
      assert.equal(await store.message(ours.paymentHash), undefined, `${name}: nothing stored`);
    }
  });

  test('HTLCs without lnmsg records continue at once; a message to a hash nobody made gets lightningd’s own failure', async () => {
    const { receiver } = await setup();
    const plain = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: toHex(randomBytes(32)),
        payload: final([{ type: 34349335n, value: text('x') }]),
      }),
    );
    assert.deepEqual(plain, { result: 'continue' });
    const req = htlcRequest({
      paymentHash: toHex(randomBytes(32)),
      amountMsat: 1234,
      payload: final([{ type: TYPE, value: text('x') }]),
    });
    const r = await receiver.onHtlcAccepted(req);
    assert.equal(refusalOf(r), undefined);
    const height = req.htlc.cltv_expiry - req.htlc.cltv_expiry_relative;
    assert.deepEqual(r, {
      result: 'fail',
      failure_message: toHex(incorrectOrUnknownPaymentDetails(1234n, height)),
    });
  });

  test('each refusal names its cause after the BOLT 4 fields; a refusal by the payee carries its reason', async () => {
    const { receiver, store } = await setup({ maxMessageBytes: 10 });
    const asked = await receiver.newInvoice({ amountMsat: 2000 });
    const pay = (hash: string, message: Uint8Array, amountMsat = 2000) =>
      receiver.onHtlcAccepted(
        htlcRequest({
          paymentHash: hash,
          amountMsat,
          payload: final([{ type: TYPE, value: message }], { amtToForward: BigInt(amountMsat) }),
        }),
      );
    assert.deepEqual(refusalOf(await pay(asked.paymentHash, text('hi'), 1000)), {
      cause: 'amount_too_low',
      reason: 'at least 2000 msat',
    });
    assert.deepEqual(refusalOf(await pay(asked.paymentHash, new Uint8Array(11))), {
      cause: 'too_large',
      reason: 'at most 10 bytes',
    });
    const held = await receiver.newInvoice({ hold: true });
    const pending = pay(held.paymentHash, text('hi'));
    await receiver.wait(held.paymentHash, 5000);
    await receiver.decide(held.paymentHash, { accept: false, reason: 'sold out' });
    assert.deepEqual(refusalOf(await pending), { cause: 'refused', reason: 'sold out' });
    // Refused, the hash is payable again: a new message takes the refused one's place.
    const next = receiver.wait('any', 5000);
    const again = pay(held.paymentHash, text('again'));
    assert.equal((await next)?.status, 'held');
    await receiver.decide(held.paymentHash, { accept: true });
    assert.equal((await again).result, 'resolve');
    assert.equal((await store.message(held.paymentHash))?.messageHex, toHex(text('again')));
  });
});

describe('receiver: multi-part messages', needsShared('fixtures'), () => {
  const message = randomBytes(3000);
  const id = sha256(message).subarray(0, 16);
  const pieces = [message.subarray(0, 1000), message.subarray(1000, 2000), message.subarray(2000)];
  const token = new Uint8Array(8).fill(7);
  const part = (hash: string, index: number, opts: { total?: bigint; data?: Uint8Array } = {}) =>
    htlcRequest({
      paymentHash: hash,
      amountMsat: 1000,
      payload: final(
        [
          {
            type: RECORD.chunk,
            value: encodeChunk({
              token,
              offset: index * 1000,
              total: message.length,
              ...(index === 0 ? { messageId: id } : {}),
              data: opts.data ?? (pieces[index] as Uint8Array),
            }),
          },
        ],
        opts.total === undefined
          ? {}
          : { paymentData: { paymentSecret: new Uint8Array(32), totalMsat: opts.total } },
      ),
    });

  test('parts arriving out of order settle together once the message is whole', async () => {
    const { receiver, store } = await setup();
    const inv = await receiver.newInvoice({ amountMsat: 3000 });
    const results = await Promise.all(
      [2, 0, 1].map((i) => receiver.onHtlcAccepted(part(inv.paymentHash, i))),
    );
    for (const r of results) assert.deepEqual(r, { result: 'resolve', payment_key: inv.preimage });
    const m = await store.message(inv.paymentHash);
    assert.equal(m?.messageHex, toHex(message));
    assert.equal(m?.htlcs.length, 3);
    assert.equal(m?.amountMsat, 3000);
  });

  test('a piece repeated with other bytes fails every part; repeated as it was, it counts once', async () => {
    const { receiver, store } = await setup();
    const inv = await receiver.newInvoice({});
    const results = await Promise.all(
      [{}, { data: randomBytes(1000) }].map((o) => receiver.onHtlcAccepted(part(inv.paymentHash, 0, o))),
    );
    for (const r of results) assert.ok(isFail(r), JSON.stringify(r));
    assert.equal(await store.message(inv.paymentHash), undefined);
    const same = await receiver.newInvoice({});
    const settled = await Promise.all(
      [0, 0, 1, 2].map((i) => receiver.onHtlcAccepted(part(same.paymentHash, i))),
    );
    for (const r of settled) assert.deepEqual(r, { result: 'resolve', payment_key: same.preimage });
    const m = await store.message(same.paymentHash);
    assert.equal(m?.messageHex, toHex(message));
    assert.equal(m?.htlcs.length, 4);
  });

  test('a missing part times out and fails the others with mpp_timeout', async () => {
    const { receiver, store } = await setup({ mppTimeoutSeconds: 0.05 });
    const inv = await receiver.newInvoice({});
    const results = await Promise.all([0, 2].map((i) => receiver.onHtlcAccepted(part(inv.paymentHash, i))));
    for (const r of results) assert.ok(isFail(r, '0017'), JSON.stringify(r));
    assert.equal(await store.message(inv.paymentHash), undefined);
  });

  test('parts carrying less than total_msat wait for the rest of the amount, then time out', async () => {
    const { receiver, store } = await setup({ mppTimeoutSeconds: 0.05 });
    const inv = await receiver.newInvoice({});
    const results = await Promise.all(
      [0, 1, 2].map((i) => receiver.onHtlcAccepted(part(inv.paymentHash, i, { total: 5000n }))),
    );
    for (const r of results) assert.ok(isFail(r, '0017'), JSON.stringify(r));
    assert.equal(await store.message(inv.paymentHash), undefined);
  });

  test('a tampered chunk fails the reassembly check', async () => {
    const { receiver } = await setup();
    const inv = await receiver.newInvoice({});
    const results = await Promise.all(
      [0, 1, 2].map((i) =>
        receiver.onHtlcAccepted(part(inv.paymentHash, i, i === 1 ? { data: randomBytes(1000) } : {})),
      ),
    );
    for (const r of results) assert.ok(isFail(r));
  });
});

describe('receiver: authenticated senders', needsShared('fixtures'), () => {
  const senderKey = secp256k1.utils.randomSecretKey();
  const senderId = secp256k1.getPublicKey(senderKey, true);
  type Form = 'payment' | 'message';
  interface Signing {
    recipient?: Uint8Array;
    signedMessage?: Uint8Array;
    /** The payment hash signed (lnmsg's form); default the one paid. */
    signedHash?: string;
    form?: Form;
    /** Seconds between signing and arrival. */
    age?: number;
  }
  /** As a sender signs: signmessage (text of the SHA256) over lnmsg's payment form or the message-only form. */
  const signedRecords = (message: Uint8Array, paidHash: string, o: Signing = {}) => {
    const ts = BigInt(Math.floor(Date.now() / 1000) - (o.age ?? 0)) * 1_000_000_000n;
    const recipient = o.recipient ?? myId;
    const signed =
      (o.form ?? 'payment') === 'payment'
        ? signedPaymentBytes(
            senderId,
            recipient,
            fromHex(o.signedHash ?? paidHash),
            ts,
            o.signedMessage ?? message,
          )
        : signedBytes(senderId, recipient, ts, o.signedMessage ?? message);
    const sig = secp256k1.sign(signedMessageDigest(utf8.encode(signedText(signed))), senderKey, {
      prehash: false,
    });
    return [
      { type: TYPE, value: message },
      { type: RECORD.signature, value: sig },
      { type: RECORD.sender, value: senderId },
      { type: RECORD.timestamp, value: encodeUint(ts, 8) },
    ];
  };

  async function receive(message: Uint8Array, o?: Signing, unsigned = false) {
    const { receiver, store } = await setup();
    const inv = await receiver.newInvoice({});
    const records = unsigned ? [{ type: TYPE, value: message }] : signedRecords(message, inv.paymentHash, o);
    const r = await receiver.onHtlcAccepted(
      htlcRequest({ paymentHash: inv.paymentHash, payload: final(records) }),
    );
    assert.equal(r.result, 'resolve', 'an unverified message is still delivered');
    return store.message(inv.paymentHash);
  }

  test("lnmsg's signature verifies and is bound to this payment", async () => {
    const m = await receive(text('signed'));
    assert.deepEqual([m?.sender, m?.verified, m?.signedPayment], [toHex(senderId), true, true]);
    assert.ok(Math.abs((m?.sentAt ?? 0) - Date.now() / 1000) < 5, 'the timestamp is kept, in seconds');
  });
  test('the message-only form (other chat tools) verifies, not bound to the payment', async () => {
    const m = await receive(text('signed'), { form: 'message' });
    assert.deepEqual([m?.verified, m?.signedPayment], [true, false]);
  });
  test('a signature replayed onto another payment does not verify', async () => {
    const m = await receive(text('signed'), { signedHash: toHex(randomBytes(32)) });
    assert.deepEqual([m?.verified, m?.verifyProblem], [false, 'the signature does not match']);
  });
  test('a tampered message does not', async () => {
    const m = await receive(text('signed'), { signedMessage: text('other') });
    assert.deepEqual([m?.sender, m?.verified], [toHex(senderId), false]);
  });
  test('a signature for another recipient does not', async () => {
    const m = await receive(text('signed'), {
      recipient: secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true),
    });
    assert.equal(m?.verified, false);
  });
  test('a timestamp more than 10 minutes from the arrival does not, and says why', async () => {
    const old = await receive(text('signed'), { age: 601 });
    assert.equal(old?.verified, false);
    assert.match(old?.verifyProblem ?? '', /601 s away from its arrival/);
    const future = await receive(text('signed'), { age: -3600, form: 'message' });
    assert.equal(future?.verified, false);
    const recent = await receive(text('signed'), { age: 590 });
    assert.equal(recent?.verified, true);
  });
  test('an unsigned message names no sender', async () => {
    const m = await receive(text('anon'), {}, true);
    assert.equal(m?.sender, undefined);
  });
});

describe('receiver: hold and decide', needsShared('fixtures'), () => {
  async function held(config: Partial<ReceiverConfig> = {}, hold = true) {
    const { receiver, store } = await setup(config);
    const inv = await receiver.newInvoice({ hold });
    const pending = receiver.onHtlcAccepted(
      htlcRequest({ paymentHash: inv.paymentHash, payload: final([{ type: TYPE, value: text('swap?') }]) }),
    );
    const m = await receiver.wait(inv.paymentHash, 5000);
    return { receiver, store, inv, pending, m };
  }

  test('the payee sees the message before settling, then accepts', async () => {
    const { receiver, inv, pending, m, store } = await held();
    assert.equal(m?.status, 'held');
    assert.deepEqual(await receiver.decide(inv.paymentHash, { accept: true }), {
      ok: true,
      state: 'settled',
    });
    assert.deepEqual(await pending, { result: 'resolve', payment_key: inv.preimage });
    assert.equal((await store.message(inv.paymentHash))?.status, 'settled');
  });

  test('rejecting fails the HTLC and records why', async () => {
    const { receiver, inv, pending, store } = await held();
    await receiver.decide(inv.paymentHash, { accept: false, reason: 'sold out' });
    assert.ok(isFail(await pending));
    const m = await store.message(inv.paymentHash);
    assert.deepEqual([m?.status, m?.rejectReason], ['rejected', 'sold out']);
  });

  test('no decision by the deadline fails the HTLC', async () => {
    const { pending, store, inv } = await held({ holdTimeoutSeconds: 0.05 });
    assert.ok(isFail(await pending));
    assert.equal((await store.message(inv.paymentHash))?.status, 'rejected');
  });

  for (const [command, accepted] of [
    ['cat >/dev/null; exit 0', true],
    ['cat >/dev/null; echo "not today"; exit 1', false],
  ] as const) {
    test(`a decide command (${accepted ? 'exit 0' : 'exit 1'}) settles on its answer`, async () => {
      const decider = commandDecider(command, { timeoutMs: 5000, concurrency: 4 });
      const { pending, store, inv } = await held({ decider }, false);
      const r = await pending;
      assert.equal(r.result, accepted ? 'resolve' : 'fail');
      const m = await store.message(inv.paymentHash);
      assert.equal(m?.status, accepted ? 'settled' : 'rejected');
      if (!accepted) assert.equal(m?.rejectReason, 'not today');
    });
  }

  test('the decide command gets the message as JSON', async () => {
    let seen: Decision | undefined;
    const decider = async (m: { messageHex: string }) => {
      seen = m.messageHex === toHex(text('swap?')) ? { accept: true } : { accept: false, reason: 'wrong' };
      return seen;
    };
    const { pending } = await held({ decider }, false);
    assert.equal((await pending).result, 'resolve');
    assert.deepEqual(seen, { accept: true });
  });
});

describe('receiver: spontaneous (keysend) messages', needsShared('fixtures'), () => {
  test('a keysend with a message record is stored and settled with its preimage', async () => {
    const { receiver, store } = await setup();
    const { preimage, hash } = preimageAndHash();
    const r = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: hash,
        payload: final([
          { type: TYPE, value: text('boost!') },
          { type: RECORD.keysendPreimage, value: preimage },
        ]),
      }),
    );
    assert.deepEqual(r, { result: 'resolve', payment_key: toHex(preimage) });
    const m = await store.message(hash);
    assert.deepEqual([m?.spontaneous, m?.messageHex], [true, toHex(text('boost!'))]);
  });

  test('a plain keysend is left to lightningd; a message whose keysend preimage does not match is refused', async () => {
    const { receiver } = await setup();
    const { preimage, hash } = preimageAndHash();
    const plain = await receiver.onHtlcAccepted(
      htlcRequest({ paymentHash: hash, payload: final([{ type: RECORD.keysendPreimage, value: preimage }]) }),
    );
    const wrong = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: toHex(randomBytes(32)),
        payload: final([
          { type: TYPE, value: text('x') },
          { type: RECORD.keysendPreimage, value: preimage },
        ]),
      }),
    );
    assert.deepEqual(plain, { result: 'continue' });
    assert.ok(isFail(wrong), 'a message, but neither our hash nor a keysend');
    assert.equal(refusalOf(wrong), undefined, 'told nothing: it proves nothing');
  });
});

describe('receiver: a paid hash stays paid', needsShared('fixtures'), () => {
  const keysendOn = (hash: string, preimage: Uint8Array, records: TlvRecord[]) =>
    htlcRequest({
      paymentHash: hash,
      payload: final([...records, { type: RECORD.keysendPreimage, value: preimage }]),
    });

  test('a paid seed or keysend hash whose message was deleted: its public preimage proves nothing, after a restart too', async () => {
    const { receiver, store, kv } = await setup();
    const inv = await receiver.newInvoice({});
    const preimage = fromHex(inv.preimage);
    const seed = htlcRequest({
      paymentHash: inv.paymentHash,
      payload: final([{ type: TYPE, value: text('a') }]),
    });
    assert.equal((await receiver.onHtlcAccepted(seed)).result, 'resolve');
    const ks = preimageAndHash();
    const first = keysendOn(ks.hash, ks.preimage, [{ type: TYPE, value: text('b') }]);
    assert.equal((await receiver.onHtlcAccepted(first)).result, 'resolve');
    for (const h of [inv.paymentHash, ks.hash]) assert.equal((await receiver.delete(h)) !== 'held', true);
    const { receiver: again, store: after } = await restart(kv, receiver.config);
    for (const [hash, key] of [
      [inv.paymentHash, preimage],
      [ks.hash, ks.preimage],
    ] as const) {
      const r = await again.onHtlcAccepted(keysendOn(hash, key, [{ type: TYPE, value: text('replayed') }]));
      assert.ok(isFail(r), JSON.stringify(r));
      assert.equal(refusalOf(r), undefined, 'told nothing');
      assert.equal(await after.message(hash), undefined);
    }
    assert.equal(await store.message(inv.paymentHash), undefined);
  });
});

describe('receiver: restarts while a message is held', needsShared('fixtures'), () => {
  async function heldThenRestart(config: Partial<ReceiverConfig> = {}, hold = true) {
    const { receiver, store, kv } = await setup(config);
    const inv = await receiver.newInvoice({ hold });
    const req = htlcRequest({
      paymentHash: inv.paymentHash,
      payload: final([{ type: TYPE, value: text('held') }]),
    });
    void receiver.onHtlcAccepted(req); // the node dies with this HTLC held
    await receiver.wait(inv.paymentHash, 5000);
    return { old: receiver, store, kv, inv, req };
  }

  test('a held message replayed after a restart waits for the decision again, and settles once', async () => {
    const { old, kv, inv, req } = await heldThenRestart();
    const { receiver: restarted, store } = await restart(kv, old.config);
    const replay = restarted.onHtlcAccepted(req);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(await restarted.decide(inv.paymentHash, { accept: true }), {
      ok: true,
      state: 'settled',
    });
    assert.deepEqual(await replay, { result: 'resolve', payment_key: inv.preimage });
    assert.equal((await store.list('created', 0, 100)).length, 1);
    assert.equal((await store.message(inv.paymentHash))?.status, 'settled');
    await old.decide(inv.paymentHash, { accept: false, reason: 'the old process is gone' });
  });

  test('a hold=true message waits for its operator after a restart, even with a decider configured', async () => {
    const { old, kv, inv, req } = await heldThenRestart();
    let asked = 0;
    const { receiver: restarted } = await restart(kv, {
      ...old.config,
      decider: async () => {
        asked++;
        return { accept: true };
      },
    });
    const replay = restarted.onHtlcAccepted(req);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(asked, 0, 'the decider is not asked');
    await restarted.decide(inv.paymentHash, { accept: false, reason: 'operator says no' });
    assert.ok(isFail(await replay));
    await old.decide(inv.paymentHash, { accept: false, reason: 'the old process is gone' });
  });

  test('held by a decider that is gone after the restart: the replay settles', async () => {
    let stopOld: (d: Decision) => void = () => {};
    const { old, kv, inv, req } = await heldThenRestart(
      { decider: () => new Promise((r) => (stopOld = r)) },
      false,
    );
    const { receiver: restarted, store } = await restart(kv, { ...old.config, decider: undefined });
    assert.deepEqual(await restarted.onHtlcAccepted(req), { result: 'resolve', payment_key: inv.preimage });
    assert.equal((await store.message(inv.paymentHash))?.status, 'settled');
    stopOld({ accept: false, reason: 'the old process is gone' });
  });

  test('a keysend held for a decider when the plugin dies: lightningd’s keysend plugin paid it, the next start writes it settled at once', async () => {
    const kv = new MemoryKv();
    let stopOld: (d: Decision) => void = () => {};
    const config = {
      ...RECEIVER_DEFAULTS,
      tlvType: TYPE,
      nodeId: myId,
      decider: () => new Promise<Decision>((r) => (stopOld = r)),
    };
    const old = new Receiver(new MessageStore(kv), config);
    await old.open();
    const { preimage, hash } = preimageAndHash();
    void old.onHtlcAccepted(
      htlcRequest({
        paymentHash: hash,
        payload: final([
          { type: TYPE, value: text('undecided') },
          { type: RECORD.keysendPreimage, value: preimage },
        ]),
      }),
    );
    assert.equal((await old.wait(hash, 5000))?.status, 'held');
    old.close();
    const paid: InvoiceBook = { ...NO_INVOICES, settlement: async (h) => (h === hash ? 'paid' : 'released') };
    const store = new MessageStore(kv);
    const restarted = new Receiver(store, { ...config, decider: undefined }, () => {}, Date.now, paid);
    await restarted.open(60_000);
    await new Promise((r) => setImmediate(r));
    assert.equal((await store.message(hash))?.status, 'settled', 'without waiting out the replay grace');
    restarted.close();
    // The dead process's decider and timers end with it.
    stopOld({ accept: false, reason: 'the old process is gone' });
  });

  test('accept before lightningd replayed the HTLCs says so; held messages never replayed are written refunded', async () => {
    const { old, kv, inv } = await heldThenRestart();
    const { receiver: restarted, store } = await restart(kv, old.config, 30);
    const early = await restarted.decide(inv.paymentHash, { accept: true });
    assert.equal(early.ok, false);
    assert.match((early as { why: string }).why, /not handed its HTLCs back/);
    // No replay comes (the plugin alone was restarted: lightningd had failed the HTLCs).
    await new Promise((r) => setTimeout(r, 100));
    const m = await store.message(inv.paymentHash);
    assert.equal(m?.status, 'rejected');
    assert.match(m?.rejectReason ?? '', /released its HTLCs unpaid/);
    assert.deepEqual(await store.heldHashes(), []);
    await old.decide(inv.paymentHash, { accept: false, reason: 'the old process is gone' });
  });
});

describe('receiver: spam, storage and expiry', needsShared('fixtures'), () => {
  const keysend = (message: Uint8Array) => {
    const { preimage, hash } = preimageAndHash();
    const req = htlcRequest({
      paymentHash: hash,
      payload: final([
        { type: TYPE, value: message },
        { type: RECORD.keysendPreimage, value: preimage },
      ]),
    });
    return { req, hash };
  };

  /** What one stored keysend message of `bytes` counts against the budget, as a store measures it. */
  const costOf = async (bytes: number) => {
    const { receiver, store } = await setup();
    await receiver.onHtlcAccepted(keysend(new Uint8Array(bytes)).req);
    return store.spontaneousBytes;
  };

  test('spontaneous messages stop at lnmsg-max-stored-bytes; one for a handed-out hash still arrives', async () => {
    const cost = await costOf(100);
    assert.ok(cost > 100 + ENTRY_BYTES, `an entry costs more than its message: ${cost}`);
    const { receiver, store } = await setup({ maxStoredBytes: Math.floor(cost * 2.5) });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await receiver.onHtlcAccepted(keysend(new Uint8Array(100)).req));
    assert.deepEqual(
      results.map((r) => r.result),
      ['resolve', 'resolve', 'fail', 'fail'],
    );
    assert.equal(store.spontaneousBytes, cost * 2);
    const inv = await receiver.newInvoice({});
    const paid = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: inv.paymentHash,
        payload: final([{ type: TYPE, value: new Uint8Array(500) }]),
      }),
    );
    assert.equal(paid.result, 'resolve', 'messages for hashes the payee handed out always go through');
    assert.equal((await store.list('created', 0, 100)).length, 3, 'nothing already stored was dropped');
  });

  test('empty messages count too: each entry costs at least its fixed share', async () => {
    const { receiver, store } = await setup({ maxStoredBytes: 10 * ENTRY_BYTES });
    let settled = 0;
    for (let i = 0; i < 60; i++)
      if ((await receiver.onHtlcAccepted(keysend(new Uint8Array(0)).req)).result === 'resolve') settled++;
    assert.ok(settled > 0 && settled < 10, `${settled} of 60 empty messages stored`);
    assert.equal((await store.list('created', 0, 100)).length, settled);
    assert.ok(store.spontaneousBytes <= 10 * ENTRY_BYTES);
  });

  test('deleting a spontaneous message frees its bytes; the budget survives a restart', async () => {
    const cost = await costOf(100);
    const { receiver, store, kv } = await setup({ maxStoredBytes: Math.floor(cost * 1.5) });
    const a = keysend(new Uint8Array(100));
    assert.equal((await receiver.onHtlcAccepted(a.req)).result, 'resolve');
    const { receiver: again, store: reopened } = await restart(kv, receiver.config);
    assert.equal(reopened.spontaneousBytes, cost);
    assert.equal((await again.onHtlcAccepted(keysend(new Uint8Array(100)).req)).result, 'fail');
    assert.equal((await again.delete(a.hash)) && reopened.spontaneousBytes, 0);
    assert.equal(await store.message(a.hash), undefined);
    assert.equal((await again.onHtlcAccepted(keysend(new Uint8Array(100)).req)).result, 'resolve');
  });

  test('lnmsg-spontaneous refuse: keysend messages are refused, nothing stored', async () => {
    const { receiver, store } = await setup({ spontaneous: 'refuse' });
    const { req, hash } = keysend(text('spam'));
    assert.ok(isFail(await receiver.onHtlcAccepted(req)));
    assert.equal(await store.message(hash), undefined);
  });

  test('a payment to an expired hash is refused and nothing is stored; expired unpaid hashes are swept', async () => {
    let now = Date.UTC(2026, 10, 1);
    const kv = new MemoryKv();
    const store = new MessageStore(kv);
    const receiver = new Receiver(
      store,
      { ...RECEIVER_DEFAULTS, tlvType: TYPE, nodeId: myId },
      () => {},
      () => now,
    );
    await receiver.open();
    const short = await receiver.newInvoice({ expirySeconds: 60 });
    const paid = await receiver.newInvoice({ expirySeconds: 60 });
    const long = await receiver.newInvoice({});
    const pay = (hash: string) =>
      receiver.onHtlcAccepted(
        htlcRequest({ paymentHash: hash, payload: final([{ type: TYPE, value: text('hi') }]) }),
      );
    assert.equal((await pay(paid.paymentHash)).result, 'resolve');
    now += 61_000;
    assert.ok(isFail(await pay(short.paymentHash)));
    assert.equal(await store.message(short.paymentHash), undefined);
    now += 2 * 86_400_000;
    assert.equal(await receiver.sweepExpired(), 1);
    assert.equal(await store.invoice(short.paymentHash), undefined);
    assert.ok(await store.invoice(paid.paymentHash), 'a paid hash is kept with its message');
    assert.ok(await store.invoice(long.paymentHash), 'a hash not yet expired is kept');
  });

  test('lists page by created and updated index, and skip deleted messages', async () => {
    const { receiver, store } = await setup();
    const hashes: string[] = [];
    for (let i = 0; i < 600; i++) {
      const { req, hash } = keysend(text(`m${i}`));
      assert.equal((await receiver.onHtlcAccepted(req)).result, 'resolve');
      hashes.push(hash);
    }
    const page1 = await store.list('created', 0, 250);
    assert.deepEqual(
      page1.map((m) => m.createdIndex),
      Array.from({ length: 250 }, (_, i) => i + 1),
    );
    const last = page1.at(-1)?.createdIndex as number;
    const page2 = await store.list('created', last + 1, 1000);
    assert.equal(page2.length, 350);
    assert.equal(page2[0]?.messageHex, toHex(text('m250')));
    await receiver.delete(hashes[300] as string);
    const around = await store.list('created', 300, 3);
    assert.deepEqual(
      around.map((m) => m.createdIndex),
      [300, 302, 303],
    );
    assert.deepEqual(await store.list('updated', 0, 10), []);
  });

  test('a status change gets an updated_index, and the updated list finds it', async () => {
    const { receiver, store } = await setup();
    const inv = await receiver.newInvoice({ hold: true });
    const pending = receiver.onHtlcAccepted(
      htlcRequest({ paymentHash: inv.paymentHash, payload: final([{ type: TYPE, value: text('x') }]) }),
    );
    await receiver.wait(inv.paymentHash, 5000);
    assert.deepEqual(await store.heldHashes(), [inv.paymentHash]);
    await receiver.decide(inv.paymentHash, { accept: true });
    await pending;
    const [m] = await store.list('updated', 0, 10);
    assert.equal(m?.paymentHash, inv.paymentHash);
    assert.equal(m?.updatedIndex, 1);
    assert.deepEqual(await store.heldHashes(), []);
  });

  test('a held message cannot be deleted; accept after a failed set says why', async () => {
    const { receiver } = await setup({ mppTimeoutSeconds: 0.05 });
    const held = await receiver.newInvoice({ hold: true });
    void receiver.onHtlcAccepted(
      htlcRequest({ paymentHash: held.paymentHash, payload: final([{ type: TYPE, value: text('x') }]) }),
    );
    await receiver.wait(held.paymentHash, 5000);
    assert.equal(await receiver.delete(held.paymentHash), 'held');
    await receiver.decide(held.paymentHash, { accept: false, reason: 'no' });
    const again = await receiver.decide(held.paymentHash, { accept: true });
    assert.deepEqual(again, { ok: false, why: 'it was already refused: no' });

    const inv = await receiver.newInvoice({});
    const message = randomBytes(2000);
    const r = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: inv.paymentHash,
        payload: final([
          {
            type: RECORD.chunk,
            value: encodeChunk({
              token: new Uint8Array(8),
              offset: 0,
              total: message.length,
              messageId: sha256(message).subarray(0, 16),
              data: message.subarray(0, 1000),
            }),
          },
        ]),
      }),
    );
    assert.ok(isFail(r, '0017'));
    const late = await receiver.decide(inv.paymentHash, { accept: true });
    assert.equal(late.ok, false);
    assert.match((late as { why: string }).why, /its payment failed: only 1000 of 2000 bytes/);
  });
});
