import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcAcceptedResult } from '../src/cln/hook-types.js';
import {
  encodeChunk,
  encodeUint,
  fromHex,
  RECORD,
  signedBytes,
  signedText,
  type TlvRecord,
  toHex,
  utf8,
} from '../src/index.js';
import { commandDecider } from '../src/receive/decider.js';
import { type Decision, RECEIVER_DEFAULTS, Receiver, type ReceiverConfig } from '../src/receive/receiver.js';
import { signedMessageDigest } from '../src/receive/signature.js';
import { type Kv, MemoryKv } from '../src/store/kv.js';
import { MessageStore } from '../src/store/messages.js';
import { htlcRequest, preimageAndHash } from './support/htlc.js';
import { needsShared } from './support/shared.js';

const TYPE = 34349334n;
const me = secp256k1.utils.randomSecretKey();
const myId = secp256k1.getPublicKey(me, true);

function setup(config: Partial<ReceiverConfig> = {}, kv: Kv = new MemoryKv()) {
  const store = new MessageStore(kv);
  const receiver = new Receiver(store, { ...RECEIVER_DEFAULTS, tlvType: TYPE, nodeId: myId, ...config });
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

describe('receiver: single-part messages', needsShared('fixtures'), () => {
  test('settles with the preimage after storing the message', async () => {
    const { receiver, store } = setup();
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
    const { receiver } = setup({}, kv);
    const inv = await receiver.newInvoice({});
    kv.create = async () => {
      throw new Error('disk full');
    };
    await assert.rejects(
      receiver.onHtlcAccepted(
        htlcRequest({ paymentHash: inv.paymentHash, payload: final([{ type: TYPE, value: text('x') }]) }),
      ),
      /disk full/,
    );
  });

  test('a replayed HTLC gets the same answer; another HTLC to a paid hash is refused', async () => {
    const { receiver, store } = setup();
    const inv = await receiver.newInvoice({});
    const req = htlcRequest({
      paymentHash: inv.paymentHash,
      payload: final([{ type: TYPE, value: text('once') }]),
    });
    const first = await receiver.onHtlcAccepted(req);
    // A restarted plugin: a new Receiver over the same store.
    const again = new Receiver(store, receiver.config);
    await again.load();
    assert.deepEqual(await again.onHtlcAccepted(req), first);
    assert.equal((await store.messages()).length, 1);
    const other = htlcRequest({
      paymentHash: inv.paymentHash,
      payload: final([{ type: TYPE, value: text('twice') }]),
    });
    assert.ok(isFail(await again.onHtlcAccepted(other)));
    assert.equal((await store.message(inv.paymentHash))?.messageHex, toHex(text('once')));
  });

  test('refuses short amounts, near expiry, missing or oversize messages and malformed payloads', async () => {
    const { receiver, store } = setup({ maxMessageBytes: 10 });
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
      ['no message record', { payload: final([{ type: 34349335n, value: text('a') }]) }],
      ['oversize', { payload: final([{ type: TYPE, value: new Uint8Array(11) }]) }],
      ['truncated payload', { payload: '29020203e8' }],
      ['garbage payload', { payload: 'ffffffffffffffffffff' }],
      ['length prefix beyond the bytes', { payload: 'fd0fff0202' }],
      ['unknown even type below 65536', { payload: toHex(fromHex('06020203e80a0100')) }],
      [
        'unknown even custom type beside the message',
        {
          payload: final([
            { type: 70_000n, value: text('?') },
            { type: TYPE, value: text('a') },
          ]),
        },
      ],
    ];
    for (const [name, v] of cases) {
      const inv = await receiver.newInvoice({ amountMsat: 1000 });
      const r = await receiver.onHtlcAccepted(htlcRequest({ paymentHash: inv.paymentHash, ...v }));
      assert.ok(isFail(r), `${name}: ${JSON.stringify(r)}`);
      assert.equal(await store.message(inv.paymentHash), undefined, `${name}: nothing stored`);
    }
  });

  test('HTLCs that are not ours continue at once', async () => {
    const { receiver } = setup();
    const r = await receiver.onHtlcAccepted(
      htlcRequest({
        paymentHash: toHex(randomBytes(32)),
        payload: final([{ type: TYPE, value: text('x') }]),
      }),
    );
    assert.deepEqual(r, { result: 'continue' });
  });
});

describe('receiver: multi-part messages', needsShared('fixtures'), () => {
  const message = randomBytes(3000);
  const id = sha256(message).subarray(0, 16);
  const pieces = [message.subarray(0, 1000), message.subarray(1000, 2000), message.subarray(2000)];
  const part = (
    hash: string,
    index: number,
    opts: { total?: bigint; count?: number; data?: Uint8Array } = {},
  ) =>
    htlcRequest({
      paymentHash: hash,
      amountMsat: 1000,
      payload: final(
        [
          {
            type: RECORD.chunk,
            value: encodeChunk({
              messageId: id,
              index,
              count: opts.count ?? 3,
              data: opts.data ?? (pieces[index] as Uint8Array),
            }),
          },
        ],
        { paymentData: { paymentSecret: new Uint8Array(32).fill(7), totalMsat: opts.total ?? 3000n } },
      ),
    });

  test('parts arriving out of order settle together once the message is whole', async () => {
    const { receiver, store } = setup();
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

  test('a duplicate chunk fails every part', async () => {
    const { receiver, store } = setup();
    const inv = await receiver.newInvoice({});
    const results = await Promise.all([0, 0].map((i) => receiver.onHtlcAccepted(part(inv.paymentHash, i))));
    for (const r of results) assert.ok(isFail(r));
    assert.equal(await store.message(inv.paymentHash), undefined);
  });

  test('a missing part times out and fails the others with mpp_timeout', async () => {
    const { receiver, store } = setup({ mppTimeoutSeconds: 0.05 });
    const inv = await receiver.newInvoice({});
    const results = await Promise.all([0, 2].map((i) => receiver.onHtlcAccepted(part(inv.paymentHash, i))));
    for (const r of results) assert.ok(isFail(r, '0017'), JSON.stringify(r));
    assert.equal(await store.message(inv.paymentHash), undefined);
  });

  test('parts carrying less than total_msat fail', async () => {
    const { receiver } = setup();
    const inv = await receiver.newInvoice({});
    const results = await Promise.all(
      [0, 1, 2].map((i) => receiver.onHtlcAccepted(part(inv.paymentHash, i, { total: 5000n }))),
    );
    for (const r of results) assert.ok(isFail(r));
  });

  test('a tampered chunk fails the reassembly check', async () => {
    const { receiver } = setup();
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
  /** As lnmsg's sender does it: signmessage over the hex of SHA256(sender|recipient|timestamp|message). */
  const signedRecords = (message: Uint8Array, recipient = myId, signedMessage = message) => {
    const ts = 1_795_000_000_000_000_000n;
    const digest = signedMessageDigest(
      utf8.encode(signedText(signedBytes(senderId, recipient, ts, signedMessage))),
    );
    const sig = secp256k1.sign(digest, senderKey, { prehash: false });
    return [
      { type: TYPE, value: message },
      { type: RECORD.signature, value: sig },
      { type: RECORD.sender, value: senderId },
      { type: RECORD.timestamp, value: encodeUint(ts, 8) },
    ];
  };

  async function receive(records: TlvRecord[]) {
    const { receiver, store } = setup();
    const inv = await receiver.newInvoice({});
    const r = await receiver.onHtlcAccepted(
      htlcRequest({ paymentHash: inv.paymentHash, payload: final(records) }),
    );
    assert.equal(r.result, 'resolve', 'an unverified message is still delivered');
    return store.message(inv.paymentHash);
  }

  test('a good signature verifies', async () => {
    const m = await receive(signedRecords(text('signed')));
    assert.deepEqual([m?.sender, m?.verified], [toHex(senderId), true]);
  });
  test('a tampered message does not', async () => {
    const m = await receive(signedRecords(text('signed'), myId, text('other')));
    assert.deepEqual([m?.sender, m?.verified], [toHex(senderId), false]);
  });
  test('a signature for another recipient does not', async () => {
    const m = await receive(
      signedRecords(text('signed'), secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)),
    );
    assert.equal(m?.verified, false);
  });
  test('an unsigned message names no sender', async () => {
    const m = await receive([{ type: TYPE, value: text('anon') }]);
    assert.equal(m?.sender, undefined);
  });
});

describe('receiver: hold and decide', needsShared('fixtures'), () => {
  async function held(config: Partial<ReceiverConfig> = {}, hold = true) {
    const { receiver, store } = setup(config);
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
    assert.ok(receiver.decide(inv.paymentHash, { accept: true }));
    assert.deepEqual(await pending, { result: 'resolve', payment_key: inv.preimage });
    assert.equal((await store.message(inv.paymentHash))?.status, 'settled');
  });

  test('rejecting fails the HTLC and records why', async () => {
    const { receiver, inv, pending, store } = await held();
    receiver.decide(inv.paymentHash, { accept: false, reason: 'sold out' });
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
    const { receiver, store } = setup();
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

  test('a plain keysend, or one whose preimage does not match, is left to lightningd', async () => {
    const { receiver } = setup();
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
    assert.deepEqual([plain, wrong], [{ result: 'continue' }, { result: 'continue' }]);
  });
});

describe('receiver: restarts while a message is held', needsShared('fixtures'), () => {
  test('a held message replayed after a restart waits for the decision again, and settles once', async () => {
    const { receiver, store } = setup();
    const inv = await receiver.newInvoice({ hold: true });
    const req = htlcRequest({
      paymentHash: inv.paymentHash,
      payload: final([{ type: TYPE, value: text('held') }]),
    });
    void receiver.onHtlcAccepted(req); // the node dies with this HTLC held
    await receiver.wait(inv.paymentHash, 5000);
    const restarted = new Receiver(store, receiver.config);
    await restarted.load();
    const replay = restarted.onHtlcAccepted(req);
    await new Promise((r) => setImmediate(r));
    assert.ok(restarted.decide(inv.paymentHash, { accept: true }));
    assert.deepEqual(await replay, { result: 'resolve', payment_key: inv.preimage });
    assert.equal((await store.messages()).length, 1);
    receiver.decide(inv.paymentHash, { accept: false, reason: 'the old process is gone' });
  });

  test('held by a decider that is gone after the restart: the replay settles', async () => {
    let stopOld: (d: Decision) => void = () => {};
    const { receiver, store } = setup({ decider: () => new Promise((r) => (stopOld = r)) });
    const inv = await receiver.newInvoice({});
    const req = htlcRequest({
      paymentHash: inv.paymentHash,
      payload: final([{ type: TYPE, value: text('x') }]),
    });
    void receiver.onHtlcAccepted(req);
    await receiver.wait(inv.paymentHash, 5000);
    const restarted = new Receiver(store, { ...receiver.config, decider: undefined });
    await restarted.load();
    assert.deepEqual(await restarted.onHtlcAccepted(req), { result: 'resolve', payment_key: inv.preimage });
    assert.equal((await store.message(inv.paymentHash))?.status, 'settled');
    stopOld({ accept: false, reason: 'the old process is gone' });
  });
});
