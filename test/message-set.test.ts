import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  type Answer,
  type Completion,
  type Decision,
  MessageSet,
  type Part,
  type SetEffects,
} from '../src/receive/message-set.js';
import { toHex } from '../src/wire/bytes.js';

const MESSAGE = randomBytes(3000);
const ID = sha256(MESSAGE).subarray(0, 16);
const SECRET = new Uint8Array(32).fill(7);
const PART_TIMEOUT = 60_000;

/** A pending effect the test settles by hand. */
interface Deferred<A, R> {
  arg: A;
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

/** The set's effects with a hand-driven clock and store: nothing happens until the test says so. */
function harness() {
  let now = 1_000_000;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  const completes: Deferred<{ parts: Part[]; message: Uint8Array }, Completion>[] = [];
  const finishes: Deferred<Decision, void>[] = [];
  const fx: SetEffects<unknown> = {
    complete: (parts, message) =>
      new Promise((resolve, reject) => completes.push({ arg: { parts, message }, resolve, reject })),
    finish: (d) => new Promise((resolve, reject) => finishes.push({ arg: d, resolve, reject })),
    after: (ms, fn) => {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return () => {
        t.live = false;
      };
    },
    now: () => now,
    partTimeoutMs: PART_TIMEOUT,
    log: () => {},
  };
  return {
    fx,
    completes,
    finishes,
    /** Moves the clock on, firing the timers that fall due. */
    advance(ms: number) {
      now += ms;
      for (const t of timers.filter((x) => x.live && x.at <= now)) {
        t.live = false;
        t.fn();
      }
    },
    now: () => now,
  };
}

const chunkData = (i: number) => MESSAGE.subarray(i * 1000, (i + 1) * 1000);

/** The i-th 1000-byte piece of MESSAGE, as its HTLC would carry it. */
function part(i: number, o: Partial<Part> & { htlcId?: number } = {}): Part {
  return {
    htlc: { channel: '103x1x0', id: o.htlcId ?? i, amountMsat: 1000 },
    offset: i * 1000,
    total: MESSAGE.length,
    data: chunkData(i),
    ...(i === 0 ? { messageId: ID } : {}),
    secret: SECRET,
    totalMsat: 3000n,
    context: undefined,
    ...o,
  };
}

/** Lets every promise callback that is ready run. */
const settleMicrotasks = () => new Promise((r) => setImmediate(r));

/** Tracks whether a part's answer has arrived yet. */
function watch(p: Promise<Answer>) {
  const w: { answer?: Answer } = {};
  void p.then((a) => {
    w.answer = a;
  });
  return w;
}

async function completeSet(h: ReturnType<typeof harness>) {
  const set = new MessageSet('ab'.repeat(32), h.fx);
  const answers = [0, 1, 2].map((i) => watch(set.offer(part(i))));
  await settleMicrotasks();
  return { set, answers };
}

describe('MessageSet: collecting', () => {
  test('parts wait while chunks are missing', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    const a = watch(set.offer(part(2)));
    const b = watch(set.offer(part(0)));
    await settleMicrotasks();
    assert.equal(set.state, 'collecting');
    assert.deepEqual([a.answer, b.answer, h.completes.length], [undefined, undefined, 0]);
  });

  test('collecting -> refused: the part timer fails every part with mpp_timeout', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    const answers = [0, 2].map((i) => watch(set.offer(part(i))));
    h.advance(PART_TIMEOUT);
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    for (const a of answers) {
      assert.equal(a.answer?.settle, false);
      assert.equal(a.answer && !a.answer.settle && a.answer.timeout, true);
    }
    assert.equal(h.completes.length, 0, 'nothing is stored');
  });

  test('collecting -> refused: a part of the same payer that disagrees fails the whole set', async () => {
    for (const [name, bad] of [
      ['another message length', part(1, { total: 4000 })],
      ['another total', part(1, { totalMsat: 5000n })],
      ['overlapping bytes', part(1, { offset: 500 })],
      ['a piece again with other bytes', part(0, { htlcId: 9, data: randomBytes(1000) })],
    ] as const) {
      const h = harness();
      const set = new MessageSet('ab'.repeat(32), h.fx);
      const first = watch(set.offer(part(0)));
      const second = watch(set.offer(bad));
      await settleMicrotasks();
      assert.equal(set.state, 'refused', name);
      assert.equal(first.answer?.settle, false, name);
      assert.equal(second.answer?.settle, false, name);
    }
  });

  test('collecting: a piece repeated as it was adds its amount, not its bytes (LND repeats records in every shard)', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    const all = [part(0), part(0, { htlcId: 9 }), part(1), part(2)].map((p) => watch(set.offer(p)));
    await settleMicrotasks();
    assert.equal(set.state, 'complete');
    assert.equal(h.completes[0]?.arg.parts.length, 4, 'every HTLC of the set, the repeat too');
    assert.deepEqual(toHex(h.completes[0]?.arg.message ?? new Uint8Array()), toHex(MESSAGE));
    h.completes[0]?.resolve({ kind: 'settle' });
    await settleMicrotasks();
    for (const a of all) assert.equal(a.answer?.settle, true);
  });

  test('collecting: every byte in but less than total_msat: it waits for the amount, then completes', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    for (const i of [0, 1, 2]) void set.offer(part(i, { totalMsat: 4000n }));
    await settleMicrotasks();
    assert.equal(set.state, 'collecting');
    void set.offer(part(2, { htlcId: 3, totalMsat: 4000n }));
    await settleMicrotasks();
    assert.equal(set.state, 'complete');
  });

  test('collecting -> refused: the part timer names the missing amount when every byte is in', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    const a = watch(set.offer(part(0, { totalMsat: 4000n })));
    for (const i of [1, 2]) void set.offer(part(i, { totalMsat: 4000n }));
    h.advance(PART_TIMEOUT);
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    assert.match(a.answer && !a.answer.settle ? a.answer.reason : '', /3000 of 4000 msat/);
  });

  test('a part with another payment secret is refused alone; the set goes on', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    const first = watch(set.offer(part(0)));
    const stranger = watch(set.offer(part(1, { secret: new Uint8Array(32).fill(9), htlcId: 50 })));
    await settleMicrotasks();
    assert.equal(stranger.answer?.settle, false);
    assert.equal(set.state, 'collecting');
    assert.equal(first.answer, undefined);
    void set.offer(part(1));
    void set.offer(part(2));
    await settleMicrotasks();
    assert.equal(set.state, 'complete');
  });

  test('the same HTLC offered again (a replay) gets the same answer and counts once', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    const a = set.offer(part(0));
    const again = set.offer(part(0));
    assert.equal(a, again);
    await settleMicrotasks();
    assert.equal(set.state, 'collecting');
  });
});

describe('MessageSet: complete', () => {
  test('collecting -> complete: the last bytes stop the part timer and store the message in order', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    for (const i of [2, 0, 1]) void set.offer(part(i));
    await settleMicrotasks();
    assert.equal(set.state, 'complete');
    assert.equal(h.completes.length, 1);
    assert.equal(toHex(h.completes[0]?.arg.message as Uint8Array), toHex(MESSAGE));
    assert.deepEqual(
      h.completes[0]?.arg.parts.map((p) => p.offset),
      [0, 1000, 2000],
    );
    h.advance(PART_TIMEOUT * 2);
    await settleMicrotasks();
    assert.equal(set.state, 'complete', 'the part timer no longer runs');
  });

  test('complete -> refused: a reassembled message that does not match its id is never stored', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    const answers = [0, 1, 2].map((i) =>
      watch(set.offer(part(i, i === 1 ? { data: randomBytes(1000) } : {}))),
    );
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    assert.equal(h.completes.length, 0);
    for (const a of answers) assert.equal(a.answer?.settle, false);
  });

  test('parts arriving while the store write is in flight are refused alone; the set is unaffected', async () => {
    const h = harness();
    const { set, answers } = await completeSet(h);
    const extra = watch(set.offer(part(1, { htlcId: 77, total: 4000 })));
    const stranger = watch(set.offer(part(0, { htlcId: 78, secret: randomBytes(32) })));
    await settleMicrotasks();
    assert.equal(extra.answer?.settle, false);
    assert.equal(stranger.answer?.settle, false);
    assert.equal(set.state, 'complete');
    for (const a of answers) assert.equal(a.answer, undefined, 'the set still waits for its store write');
    h.completes[0]?.resolve({ kind: 'settle' });
    await settleMicrotasks();
    assert.equal(set.state, 'settled');
    for (const a of answers) assert.deepEqual(a.answer, { settle: true });
  });

  test('complete -> settled: every part is answered with the preimage only once the store wrote it', async () => {
    const h = harness();
    const { set, answers } = await completeSet(h);
    assert.ok(answers.every((a) => a.answer === undefined));
    h.completes[0]?.resolve({ kind: 'settle' });
    await settleMicrotasks();
    assert.equal(set.state, 'settled');
    assert.ok(answers.every((a) => a.answer?.settle === true));
  });

  test('complete -> refused: the payee refuses the message (amount, size, budget, already stored)', async () => {
    const h = harness();
    const { set, answers } = await completeSet(h);
    h.completes[0]?.resolve({ kind: 'refuse', reason: 'amount 3000 < 5000 asked', cause: 'amount_too_low' });
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    for (const a of answers)
      assert.deepEqual(a.answer, {
        settle: false,
        reason: 'amount 3000 < 5000 asked',
        cause: 'amount_too_low',
      });
  });

  test('complete -> refused: a store that cannot write never lets a part settle', async () => {
    const h = harness();
    const { set, answers } = await completeSet(h);
    h.completes[0]?.reject(new Error('disk full'));
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    for (const a of answers) assert.match((a.answer as { reason: string }).reason, /disk full/);
  });
});

describe('MessageSet: deciding', () => {
  async function heldSet(h: ReturnType<typeof harness>, decider?: (deadline: number) => Promise<Decision>) {
    const r = await completeSet(h);
    h.completes[0]?.resolve({ kind: 'hold', deadlineMs: h.now() + 600_000, decider });
    await settleMicrotasks();
    return r;
  }

  test('complete -> deciding: held past the part timer, accepted 70 s later, every part settles', async () => {
    const h = harness();
    const { set, answers } = await heldSet(h);
    assert.equal(set.state, 'deciding');
    h.advance(70_000);
    await settleMicrotasks();
    assert.equal(set.state, 'deciding', 'the part timer does not fail a held set');
    assert.ok(answers.every((a) => a.answer === undefined));
    const result = set.decide({ accept: true });
    await settleMicrotasks();
    assert.deepEqual(h.finishes[0]?.arg, { accept: true });
    assert.ok(
      answers.every((a) => a.answer === undefined),
      'not answered before "settled" is written',
    );
    h.finishes[0]?.resolve();
    assert.deepEqual(await result, { ok: true, state: 'settled' });
    await settleMicrotasks();
    assert.equal(set.state, 'settled');
    assert.ok(answers.every((a) => a.answer?.settle === true));
  });

  test('deciding -> refused: reject writes the reason, then every part fails', async () => {
    const h = harness();
    const { set, answers } = await heldSet(h);
    const result = set.decide({ accept: false, reason: 'sold out' });
    await settleMicrotasks();
    h.finishes[0]?.resolve();
    assert.deepEqual(await result, { ok: true, state: 'refused' });
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    for (const a of answers)
      assert.deepEqual(a.answer, { settle: false, reason: 'sold out', cause: 'refused', told: 'sold out' });
  });

  test('deciding -> refused: no decision by the deadline', async () => {
    const h = harness();
    const { set, answers } = await heldSet(h);
    h.advance(600_000);
    await settleMicrotasks();
    assert.equal(h.finishes[0]?.arg.accept, false);
    assert.match((h.finishes[0]?.arg as { reason: string }).reason, /no decision within 600s/);
    h.finishes[0]?.resolve();
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    assert.ok(answers.every((a) => a.answer?.settle === false));
  });

  test('deciding -> refused: an accept that cannot be written refuses, and says so', async () => {
    const h = harness();
    const { set, answers } = await heldSet(h);
    const result = set.decide({ accept: true });
    await settleMicrotasks();
    h.finishes[0]?.reject(new Error('datastore gone'));
    const r = await result;
    assert.equal(r.ok, false);
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    assert.ok(answers.every((a) => a.answer?.settle === false));
  });

  test('deciding -> settled by a decider; a late operator decision is told it was decided', async () => {
    const h = harness();
    let answer: (d: Decision) => void = () => {};
    const { set, answers } = await heldSet(h, () => new Promise((r) => (answer = r)));
    answer({ accept: true });
    await settleMicrotasks();
    h.finishes[0]?.resolve();
    await settleMicrotasks();
    assert.equal(set.state, 'settled');
    assert.ok(answers.every((a) => a.answer?.settle === true));
    assert.deepEqual(await set.decide({ accept: false, reason: 'late' }), {
      ok: false,
      why: 'it was already decided',
    });
    assert.equal(h.finishes.length, 1, 'one decision is written');
  });

  test('a new part while deciding is refused alone', async () => {
    const h = harness();
    const { set } = await heldSet(h);
    const extra = watch(set.offer(part(0, { htlcId: 99 })));
    await settleMicrotasks();
    assert.equal(extra.answer?.settle, false);
    assert.equal(set.state, 'deciding');
  });
});

describe('MessageSet: decisions that cannot apply', () => {
  test('accept while collecting, or after the set failed, says why', async () => {
    const h = harness();
    const set = new MessageSet('ab'.repeat(32), h.fx);
    void set.offer(part(0));
    assert.deepEqual(await set.decide({ accept: true }), {
      ok: false,
      why: 'it is not held for a decision (collecting)',
    });
    h.advance(PART_TIMEOUT);
    const r = await set.decide({ accept: true });
    assert.equal(r.ok, false);
    assert.match((r as { why: string }).why, /its payment failed: only 1000 of 3000 bytes/);
  });

  test('after settling, a new HTLC for the hash is refused as already paid', async () => {
    const h = harness();
    const { set } = await completeSet(h);
    h.completes[0]?.resolve({ kind: 'settle' });
    await settleMicrotasks();
    const late = await set.offer(part(0, { htlcId: 5 }));
    assert.deepEqual(late, {
      settle: false,
      reason: 'this payment hash was already paid',
      cause: 'already_paid',
    });
    assert.deepEqual(await set.offer(part(0)), { settle: true }, 'a replay of a settled part still settles');
  });
});

describe('MessageSet: restored after a restart while deciding', () => {
  const htlcs = [0, 1, 2].map((id) => ({ channel: '103x1x0', id, amountMsat: 1000 }));

  test('replayed HTLCs wait for the decision; an HTLC not of the set is refused alone', async () => {
    const h = harness();
    const set = MessageSet.restored('ab'.repeat(32), htlcs, h.now() + 300_000, h.fx);
    assert.equal(set.state, 'deciding');
    const replays = [0, 1].map((i) => watch(set.offer(part(i))));
    const stranger = watch(set.offer(part(2, { htlcId: 42 })));
    await settleMicrotasks();
    assert.equal(stranger.answer?.settle, false);
    assert.ok(replays.every((a) => a.answer === undefined));
    const result = set.decide({ accept: true });
    await settleMicrotasks();
    h.finishes[0]?.resolve();
    assert.deepEqual(await result, { ok: true, state: 'settled' });
    await settleMicrotasks();
    assert.ok(replays.every((a) => a.answer?.settle === true));
    assert.deepEqual(await set.offer(part(2)), { settle: true }, 'the last replay, after the decision');
  });

  test('the stored deadline still governs', async () => {
    const h = harness();
    const set = MessageSet.restored('ab'.repeat(32), htlcs, h.now() + 5_000, h.fx);
    const replay = watch(set.offer(part(0)));
    h.advance(5_000);
    await settleMicrotasks();
    h.finishes[0]?.resolve();
    await settleMicrotasks();
    assert.equal(set.state, 'refused');
    assert.equal(replay.answer?.settle, false);
  });

  test('a restored set decided by its decider', async () => {
    const h = harness();
    const set = MessageSet.restored('ab'.repeat(32), htlcs, h.now() + 5_000, h.fx, async () => ({
      accept: false,
      reason: 'decider says no',
    }));
    const replay = watch(set.offer(part(0)));
    await settleMicrotasks();
    h.finishes[0]?.resolve();
    await settleMicrotasks();
    assert.deepEqual(replay.answer, {
      settle: false,
      reason: 'decider says no',
      cause: 'refused',
      told: 'decider says no',
    });
  });
});
