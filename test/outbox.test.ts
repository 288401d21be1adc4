import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Outbox, outcomeOf, type SendPay } from '../src/send/outbox.js';
import type { SendError } from '../src/send/sender.js';
import { MemoryKv } from '../src/store/kv.js';
import { type NewSend, OutboxStore, type SendOutcome } from '../src/store/outbox.js';
import { toHex } from '../src/wire/bytes.js';
import { FIXTURES, rpcRecord } from './support/fake-lightningd.js';
import { needsShared } from './support/shared.js';

const DESTINATION = `02${'ee'.repeat(32)}`;
const hash = () => toHex(randomBytes(32));

/** What a sendmessage call records before it knows its payment hash. */
const call = (text = 'hi') => ({
  destination: DESTINATION,
  amountMsat: 1000,
  messageHex: Buffer.from(text).toString('hex'),
  spontaneous: false,
  signed: true,
});
const send = (paymentHash: string, text = 'hi'): NewSend => ({
  ...call(text),
  paymentHash,
  createdAt: 1_790_000_000,
});
const complete: SendOutcome = {
  paymentPreimage: 'aa'.repeat(32),
  amountSentMsat: 1001,
  feeMsat: 1,
  parts: 1,
  completedAt: 1_790_000_001,
};
const failed = (message = 'the payee refused the payment'): SendOutcome => ({
  error: { code: 1601, message },
  completedAt: 1_790_000_001,
});

/** A send claimed and its entry written, as sendmessage does before and after its HTLC leaves. */
async function begun(store: OutboxStore, s: NewSend) {
  return store.record(await claimed(store, s));
}

/** The claim of a send that nothing stands in the way of, written to its slot (its first HTLC left). */
async function claimed(store: OutboxStore, s: NewSend) {
  const r = await store.claim(s);
  assert.ok(r !== 'busy', `claim ${s.paymentHash}`);
  await store.hold(r);
  return r;
}

const SLOTS = ['lnmsg', 'outbox', 'inflight'];
/** What the slots hold on disk: each one's claimed hash, or '' for an empty one. */
const slotHashes = (kv: MemoryKv) =>
  kv
    .all()
    .filter((e) => e.key.slice(0, 3).join('/') === SLOTS.join('/'))
    .map((e) => (e.value ? (JSON.parse(e.value) as NewSend).paymentHash : ''));

/** The hashes a restarted store finds unended. */
async function recovered(kv: MemoryKv) {
  const { store } = await openStore(kv);
  return {
    store,
    unended: await store.recover((h, e) => {
      throw new Error(`${h}: ${e.message}`);
    }),
  };
}

/** Every write made to `kv` from now on, as "method key-part": "put inflight", "create message"... */
function writesTo(kv: MemoryKv): string[] {
  const writes: string[] = [];
  for (const method of ['create', 'put', 'replace', 'delete'] as const) {
    const original = kv[method].bind(kv) as (...a: unknown[]) => Promise<unknown>;
    (kv as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => {
      writes.push(`${method} ${(a[0] as string[])[2]}`);
      return original(...a);
    };
  }
  return writes;
}

async function openStore(kv = new MemoryKv()) {
  const store = new OutboxStore(kv);
  await store.open();
  return { store, kv };
}

describe('OutboxStore over a datastore', () => {
  test('entries page by created index over several buckets; a deleted one is skipped', async () => {
    const { store } = await openStore();
    const hashes: string[] = [];
    for (let i = 0; i < 600; i++) {
      hashes.push(hash());
      await begun(store, send(hashes[i] as string, `m${i}`));
    }
    const page1 = await store.list('created', 0, 250);
    assert.deepEqual(
      page1.map((e) => e.createdIndex),
      Array.from({ length: 250 }, (_, i) => i + 1),
    );
    const page2 = await store.list('created', 251, 1000);
    assert.equal(page2.length, 350);
    assert.equal(page2[0]?.messageHex, Buffer.from('m250').toString('hex'));
    await store.finish(hashes[300] as string, failed());
    assert.notEqual(await store.delete(hashes[300] as string), undefined);
    assert.deepEqual(
      (await store.list('created', 300, 3)).map((e) => e.createdIndex),
      [300, 302, 303],
    );
  });

  test('an outcome gives a pending entry an updated index and frees its slot; the first outcome stands', async () => {
    const { store, kv } = await openStore();
    const [a, b] = [hash(), hash()];
    await begun(store, send(a));
    await begun(store, send(b));
    assert.deepEqual((await recovered(kv)).unended.sort(), [a, b].sort());
    assert.deepEqual(await store.list('updated', 0, 10), []);

    const done = await store.finish(a, complete);
    assert.deepEqual(
      [done?.status, done?.updatedIndex, done?.paymentPreimage],
      ['complete', 1, 'aa'.repeat(32)],
    );
    const refused = await store.finish(b, failed('no'));
    assert.deepEqual(
      [refused?.status, refused?.updatedIndex, refused?.error],
      ['failed', 2, { code: 1601, message: 'no' }],
    );
    assert.deepEqual(
      (await store.list('updated', 0, 10)).map((e) => e.paymentHash),
      [a, b],
    );
    assert.deepEqual(
      (await store.list('updated', 2, 10)).map((e) => e.paymentHash),
      [b],
    );
    assert.deepEqual((await recovered(kv)).unended, []);

    assert.equal(await store.finish(a, failed()), undefined, 'a complete entry does not fail afterwards');
    const a2 = await store.entry(a);
    assert.deepEqual([a2?.status, a2?.updatedIndex], ['complete', 1]);
    assert.equal((await store.list('updated', 0, 10)).length, 2, 'no updated index for a change not made');
  });

  test('claim: a send not ended is in the way; an ended one gives way; a complete entry outlives a refused attempt', async () => {
    const { store } = await openStore();
    const h = hash();
    const claim = await claimed(store, send(h, 'first'));
    assert.equal(await store.claim(send(h, 'second')), 'busy', 'claimed, its entry not written yet');
    const first = await store.record(claim);
    assert.equal(first.createdIndex, claim.createdIndex, 'the index taken at the claim');
    assert.equal(await store.claim(send(h, 'second')), 'busy', 'its entry written');
    await store.finish(h, failed());

    const retry = await begun(store, send(h, 'second'));
    assert.ok(retry.createdIndex > first.createdIndex, 'the new attempt is a new entry');
    assert.deepEqual(
      (await store.list('created', 0, 10)).map((e) => [
        e.status,
        Buffer.from(e.messageHex, 'hex').toString(),
      ]),
      [['pending', 'second']],
    );
    await store.finish(h, complete);
    // lightningd refuses to pay a paid hash again: that attempt ends failed, the entry stays complete.
    const third = await claimed(store, send(h, 'third'));
    const kept = await store.ended(third, failed('already paid'));
    assert.deepEqual([kept.status, kept.createdIndex], ['complete', retry.createdIndex]);
    await claimed(store, send(h, 'fourth'));
  });

  test('a claim is written to its slot only when held: a send that ends before any HTLC writes its entry alone', async () => {
    const { store, kv } = await openStore();
    await claimed(store, send(hash())); // the counters' first reservation is written
    const writes = writesTo(kv);
    const h = hash();
    const claim = await store.claim(send(h));
    assert.ok(claim !== 'busy');
    assert.deepEqual(writes, [], 'claimed in memory: nothing written');
    assert.equal(await store.claim(send(h, 'again')), 'busy', 'yet the hash is busy');
    await store.ended(claim, failed('no route'));
    assert.deepEqual(
      writes.sort(),
      ['create message', 'put created'],
      'its entry and its created index entry',
    );
    assert.ok(!slotHashes(kv).includes(h), 'no slot names it');
    assert.ok(!(await recovered(kv)).unended.includes(h), 'nothing of it to settle at the next start');
    await assert.rejects(store.hold(claim), /not claimed/, 'an ended send holds nothing');
  });

  test('a slot takes the next claim once its send ended; a restart tells stale claims by their entries', async () => {
    const { store, kv } = await openStore();
    const [a, b, c, d] = [hash(), hash(), hash(), hash()];
    await store.ended(await claimed(store, send(a)), complete);
    await claimed(store, send(b));
    const cClaim = await claimed(store, send(c));
    assert.deepEqual(slotHashes(kv), [b, c], "a's slot holds b's claim now");
    await store.ended(cClaim, failed());
    await store.ended(await claimed(store, send(d)), complete);
    assert.deepEqual(slotHashes(kv), [b, d], 'c ended: d took its slot');
    const { store: restarted, unended } = await recovered(kv);
    assert.deepEqual(unended, [b], 'd ended; b died with its claim alone');
    assert.equal((await restarted.entry(b))?.status, 'pending', 'its entry written from the claim');
    assert.deepEqual(
      (await restarted.list('created', 0, 10)).map((e) => e.paymentHash),
      [a, b, c, d],
    );
    assert.equal(await restarted.claim(send(b, 'again')), 'busy', 'held until settled');
    await restarted.finish(b, failed());
    assert.deepEqual(slotHashes(kv), [b, d], 'nothing written to free a slot');
    await claimed(restarted, send(b, 'again'));
  });

  test('a claim whose entry cannot be written at start is told, and left; the others are recovered', async () => {
    const { store, kv } = await openStore();
    const [broken, fine] = [hash(), hash()];
    for (const h of [broken, fine]) await claimed(store, send(h));
    const create = kv.create.bind(kv);
    kv.create = async (key, value) => {
      if (key.at(-1) === broken) throw new Error('datastore refused');
      return create(key, value);
    };
    const { store: restarted } = await openStore(kv);
    const told: string[] = [];
    const unended = await restarted.recover((h, e) => told.push(`${h}: ${e.message}`));
    assert.deepEqual(told, [`${broken}: datastore refused`]);
    assert.deepEqual(unended, [fine]);
    assert.deepEqual(slotHashes(kv), [broken, fine], 'its claim stays for the next start');
  });

  test('of two claims of one hash left in the slots, the newer stands', async () => {
    const { store, kv } = await openStore();
    const h = hash();
    const holder = await claimed(store, send(hash()));
    await store.ended(await claimed(store, send(h, 'old')), failed());
    await store.ended(holder, complete);
    await claimed(store, send(h, 'new'));
    assert.deepEqual(slotHashes(kv), [h, h]);
    const { store: restarted, unended } = await recovered(kv);
    assert.deepEqual(unended, [h]);
    const e = await restarted.entry(h);
    assert.deepEqual([e?.status, Buffer.from(e?.messageHex ?? '', 'hex').toString()], ['pending', 'new']);
  });

  test('a send writes its slot once, and its ended entry as one record and one created index entry', async () => {
    const { store, kv } = await openStore();
    await claimed(store, send(hash())); // the counters' first reservation is written
    const writes = writesTo(kv);
    const c = await claimed(store, send(hash()));
    assert.deepEqual(writes, ['put inflight'], 'before the HTLC');
    writes.length = 0;
    const e = await store.ended(c, complete);
    assert.deepEqual(writes.sort(), ['create message', 'put created'], 'after it');
    assert.equal(e.updatedIndex, undefined, 'written once: never updated');
  });

  test('pending marks of an older lnmsg: busy until the start settles them, then removed', async () => {
    const { store, kv } = await openStore();
    const [failedHash, paidHash, unwritten] = [hash(), hash(), hash()];
    for (const [h, outcome] of [
      [failedHash, failed()],
      [paidHash, complete],
    ] as const)
      await store.ended(await claimed(store, send(h)), outcome);
    for (const h of [failedHash, paidHash, unwritten])
      await kv.put(['lnmsg', 'outbox', 'pending', h], JSON.stringify({ ...send(h), createdIndex: 900 }));
    const { store: restarted } = await openStore(kv);
    assert.equal(await restarted.claim(send(failedHash, 'again')), 'busy', 'as if a send held it');
    await outboxOver(restarted, new Map()).outbox.open();
    assert.deepEqual(
      kv.all().filter((e) => e.key[2] === 'pending'),
      [],
      'every mark removed once its entry ended',
    );
    assert.match((await restarted.entry(unwritten))?.error?.message ?? '', /restarted before/);
    await claimed(restarted, send(failedHash, 'again'));
  });

  test('delete frees an ended entry, and refuses a pending one', async () => {
    const { store, kv } = await openStore();
    const h = hash();
    await begun(store, send(h));
    assert.equal(await store.delete(h), 'pending');
    await store.finish(h, complete);
    const deleted = await store.delete(h);
    assert.equal(deleted !== 'pending' && deleted?.paymentHash, h);
    assert.equal(await store.entry(h), undefined);
    assert.equal(await store.delete(h), undefined);
    assert.deepEqual(
      kv.all().map((e) => e.key.join('/')),
      ['lnmsg/outbox/counters', 'lnmsg/outbox/inflight/0'],
      'no index entry left behind',
    );
    assert.deepEqual(slotHashes(kv), [''], 'nor a claim that would bring the entry back');
    assert.deepEqual((await recovered(kv)).unended, []);
    assert.equal(await (await openStore(kv)).store.entry(h), undefined);
  });

  test('a restarted store goes on from its counters: no index is handed out twice', async () => {
    const { store, kv } = await openStore();
    const before = [hash(), hash()];
    for (const h of before) await begun(store, send(h));
    const { store: again } = await openStore(kv);
    const after = await begun(again, send(hash()));
    assert.ok(after.createdIndex > 2);
    assert.deepEqual(
      (await again.list('created', 0, 10)).map((e) => e.paymentHash),
      [...before, after.paymentHash],
    );
  });
});

/** lightningd's recorded listsendpays entries, by payment hash. */
function recordedSendpays(): Map<string, SendPay[]> {
  const { payments } = rpcRecord('listsendpays').reply.result as { payments: SendPay[] };
  const byHash = new Map<string, SendPay[]>();
  for (const p of payments) byHash.set(p.payment_hash, [...(byHash.get(p.payment_hash) ?? []), p]);
  return byHash;
}

/** An Outbox whose listsendpays answers from `payments`, recording what it was asked. */
function outboxOver(store: OutboxStore, payments: Map<string, SendPay[]>) {
  const asked: string[] = [];
  const outbox = new Outbox(store, async (h) => {
    asked.push(h);
    return payments.get(h) ?? [];
  });
  return { outbox, asked };
}

describe('Outbox: pending entries settled from lightningd’s record', needsShared(...FIXTURES), () => {
  const recorded = recordedSendpays();
  const paidHash = '30bc10a93b5f4899e2eee01d3c1221e82ccc740cf17147ac43b0ca33c0aaeb37';
  const failedHash = 'bd9d485418da0894fa68f992099e19d89e4131ac05c4f9f7f42d370cba8b13b2';
  /** The recorded sendonion reply, less its `message`: the part as lightningd lists it in flight. */
  const inFlight = (paymentHash: string): SendPay[] => {
    const { message: _, ...part } = rpcRecord('sendonion-success/sendonion').reply.result as SendPay & {
      message: string;
    };
    return [{ ...part, payment_hash: paymentHash }];
  };

  test('at start: complete with the preimage and amounts lightningd reports, failed, or left pending and watched', async () => {
    const { store, kv } = await openStore();
    const [unsent, flying] = [hash(), hash()];
    for (const h of [paidHash, failedHash, unsent, flying])
      await begun(store, { ...send(h), amountMsat: 5000 });
    const payments = new Map(recorded);
    payments.set(flying, inFlight(flying));

    const { store: restarted } = await openStore(kv);
    const { outbox, asked } = outboxOver(restarted, payments);
    await outbox.open();
    assert.deepEqual(asked.sort(), [paidHash, failedHash, unsent, flying].sort(), 'one hash per call');

    const paid = await restarted.entry(paidHash);
    const record = (recorded.get(paidHash) as SendPay[])[0] as SendPay;
    assert.deepEqual(
      [
        paid?.status,
        paid?.paymentPreimage,
        paid?.amountSentMsat,
        paid?.feeMsat,
        paid?.parts,
        paid?.completedAt,
      ],
      ['complete', record.payment_preimage, 5001, 1, 1, record.completed_at],
    );
    assert.deepEqual((await restarted.entry(failedHash))?.error, {
      code: 1604,
      message: 'the node restarted while sending; lightningd reports it failed',
    });
    assert.match(
      (await restarted.entry(unsent))?.error?.message ?? '',
      /restarted before the message was sent/,
    );
    assert.equal((await restarted.entry(flying))?.status, 'pending');
    assert.deepEqual((await recovered(kv)).unended, [flying], 'a further restart still finds it in flight');

    asked.length = 0;
    await outbox.sendpayEnded(hash());
    assert.deepEqual(asked, [], 'a payment that is not an orphan of ours is not looked up');
    payments.set(flying, [
      { ...(inFlight(flying)[0] as SendPay), status: 'complete', payment_preimage: 'bb'.repeat(32) },
    ]);
    await outbox.sendpayEnded(flying);
    assert.equal((await restarted.entry(flying))?.status, 'complete');
    await outbox.sendpayEnded(flying);
    assert.deepEqual(asked, [flying], 'settled: no longer watched');
  });

  test('a send that died with only its claim written: the restart writes its entry from the mark, then settles it', async () => {
    const { store, kv } = await openStore();
    const [unsent, flying] = [hash(), hash()];
    const claims = [];
    for (const h of [unsent, flying]) claims.push(await claimed(store, send(h, 'claimed')));
    const { store: restarted } = await openStore(kv);
    const { outbox } = outboxOver(restarted, new Map([[flying, inFlight(flying)]]));
    await outbox.open();
    const [e1, e2] = [await restarted.entry(unsent), await restarted.entry(flying)];
    assert.deepEqual(
      [e1?.status, e1?.error?.code, e2?.status, Buffer.from(e2?.messageHex ?? '', 'hex').toString()],
      ['failed', 1604, 'pending', 'claimed'],
    );
    assert.deepEqual(
      [e1?.createdIndex, e2?.createdIndex],
      claims.map((c) => c.createdIndex),
      'the indexes taken at the claims',
    );
    assert.deepEqual((await recovered(kv)).unended, [flying], 'a further restart still finds it in flight');
    assert.deepEqual(
      (await restarted.list('created', 0, 10)).map((e) => e.paymentHash).sort(),
      [unsent, flying].sort(),
      'both listed',
    );
  });

  test('a send that died between the writes of its ended entry: the restart lists it all the same', async () => {
    const { store, kv } = await openStore();
    const h = hash();
    const e = await store.ended(await claimed(store, send(h)), complete);
    // As if the process died with the record written and its index entry not; its slot holds its claim.
    for (const k of kv.all().map((x) => x.key)) if (k[2] === 'created') await kv.delete(k);
    const { store: restarted } = await openStore(kv);
    await outboxOver(restarted, new Map()).outbox.open();
    assert.deepEqual(
      (await restarted.list('created', 0, 10)).map((x) => x.paymentHash),
      [h],
    );
    assert.deepEqual((await recovered(kv)).unended, []);
    assert.deepEqual(await restarted.entry(h), e);
  });

  test('a call that ends with an unexpected error is settled from lightningd’s record, watched while in flight', async () => {
    const { store } = await openStore();
    const payments = new Map<string, SendPay[]>();
    const { outbox } = outboxOver(store, payments);
    await outbox.open();
    const h = hash();
    const sending = outbox.sending(call());
    await sending.begin(h);
    payments.set(h, inFlight(h));
    await sending.unsure(new Error('lightningd went away'));
    assert.equal((await store.entry(h))?.status, 'pending');
    payments.set(h, [{ ...(inFlight(h)[0] as SendPay), status: 'failed' }]);
    await outbox.sendpayEnded(h);
    assert.deepEqual((await store.entry(h))?.error, { code: -32603, message: 'lightningd went away' });
  });

  test('a second send to a hash is refused while the first is being sent; once it ended, lightningd has the say', async () => {
    const { store } = await openStore();
    const { outbox } = outboxOver(store, new Map());
    const h = hash();
    const first = outbox.sending(call());
    await first.begin(h);
    const busy = await outbox
      .sending(call())
      .begin(h)
      .catch((e: SendError) => e);
    assert.deepEqual(
      [(busy as SendError).kind, (busy as SendError).message],
      ['invalid', `a message to payment_hash ${h} is being sent already`],
    );
    first.complete({
      paymentHash: h,
      paymentPreimage: 'aa'.repeat(32),
      spontaneous: false,
      parts: [],
      amountSentMsat: 1001,
      feeMsat: 1,
    });
    await outbox.current(h);
    assert.equal((await store.entry(h))?.status, 'complete');
    // sendonion answers a paid hash before any HTLC leaves: that attempt ends failed, the entry stays.
    const again = outbox.sending(call());
    await again.begin(h);
    again.failed({ code: 1601, message: 'already paid' });
    await outbox.current(h);
    assert.equal((await store.entry(h))?.status, 'complete');
  });
});

describe('outcomeOf: what a payment’s parts say of it', () => {
  const part = (status: SendPay['status'], amount = 1000): SendPay => ({
    payment_hash: 'ab'.repeat(32),
    status,
    amount_msat: amount,
    amount_sent_msat: amount + 2,
    ...(status === 'complete' ? { payment_preimage: 'cd'.repeat(32), completed_at: 1_790_000_100 } : {}),
  });
  const error = () => ({ code: 1604, message: 'gave up' });

  test('in flight while any part is pending, even with others complete', () => {
    assert.equal(outcomeOf([part('complete'), part('pending')], error, 1), undefined);
  });

  test('complete once none is pending: the complete parts counted, failed attempts not', () => {
    assert.deepEqual(outcomeOf([part('failed'), part('complete', 600), part('complete', 400)], error, 1), {
      paymentPreimage: 'cd'.repeat(32),
      amountSentMsat: 1004,
      feeMsat: 4,
      parts: 2,
      completedAt: 1_790_000_100,
    });
  });

  test('failed when every part failed, or none was sent', () => {
    assert.deepEqual(outcomeOf([part('failed'), part('failed')], error, 7), {
      error: error(),
      completedAt: 7,
    });
    assert.deepEqual(outcomeOf([], error, 7), { error: error(), completedAt: 7 });
  });
});
