import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type CapturedHtlc, HTLC_SET_MS, RecordCapture } from '../src/receive/record-capture.js';

const rec = (type: number, bytes: number) => ({
  type: BigInt(type),
  value: new Uint8Array(bytes).fill(type % 256),
});
const SECRET = 'aa'.repeat(32);
const FORGED = 'bb'.repeat(32);
/** An HTLC with the invoice's secret (or another), carrying `records`. */
const htlc = (records: CapturedHtlc['records'], o: Partial<CapturedHtlc> = {}): CapturedHtlc => ({
  amountMsat: 1000,
  totalMsat: 1000n,
  secret: SECRET,
  keysend: false,
  records,
  ...o,
});
const paid = { secret: SECRET };

describe('RecordCapture: records of the HTLCs lightningd pays, between htlc_accepted and invoice_payment', () => {
  test('taken once, then gone', () => {
    const c = new RecordCapture();
    c.add('a', htlc([rec(7629169, 10)]));
    assert.deepEqual(c.take('a', paid, 1000), [rec(7629169, 10)]);
    assert.equal(c.take('a', paid, 1000), undefined);
    assert.equal(c.size, 0);
  });

  test('an HTLC without the invoice’s secret gives nothing, whenever it came', () => {
    const c = new RecordCapture();
    c.add('a', htlc([rec(7629169, 10)], { secret: FORGED }));
    c.add('a', htlc([rec(7629171, 4)], { secret: undefined }));
    c.add('a', htlc([rec(7629173, 3)]));
    assert.deepEqual(c.take('a', paid, 1000), [rec(7629173, 3)]);
  });

  test('a keysend’s records only for the invoice its keysend made; never on an invoice’s payment', () => {
    const c = new RecordCapture();
    c.add('a', htlc([rec(7629169, 10)], { secret: undefined, keysend: true }));
    assert.equal(c.take('a', paid, 1000), undefined);
    c.add('b', htlc([rec(7629169, 10)], { secret: undefined, keysend: true }));
    assert.deepEqual(c.take('b', 'keysend', 1000), [rec(7629169, 10)]);
  });

  test('the parts of one set add the types they alone carry, in type order', () => {
    const c = new RecordCapture();
    const half = { amountMsat: 500 };
    c.add('a', htlc([rec(7629171, 3)], half));
    c.add('a', htlc([rec(7629169, 5), rec(7629171, 9)], half));
    assert.deepEqual(c.take('a', paid, 1000), [rec(7629169, 5), rec(7629171, 3)]);
  });

  test('only lightningd’s newest set: a set older than 70 s failed, one with another total_msat failed whole', () => {
    let now = 0;
    const c = new RecordCapture(undefined, () => now);
    c.add('a', htlc([rec(70001, 1)], { amountMsat: 500 }));
    now = HTLC_SET_MS;
    c.add('a', htlc([rec(70003, 1)], { amountMsat: 500 }));
    assert.deepEqual(c.take('a', paid, 1000), [rec(70003, 1)]);
    c.add('b', htlc([rec(70001, 1)], { amountMsat: 500 }));
    c.add('b', htlc([rec(70003, 1)], { amountMsat: 500, totalMsat: 2000n }));
    c.add('b', htlc([rec(70005, 1)], { amountMsat: 500 }));
    assert.deepEqual(c.take('b', paid, 1000), [rec(70005, 1)]);
  });

  test('a set that asked for more than lightningd pays is not its set (its HTLCs timed out unseen)', () => {
    const c = new RecordCapture();
    // One part of two (total 2000) came with records; then a plain 1000 msat payment paid.
    c.add('a', htlc([rec(70001, 1)], { totalMsat: 2000n }));
    assert.equal(c.take('a', paid, 1000), undefined);
    c.add('b', htlc([rec(70001, 1)], { totalMsat: 2000n }));
    assert.deepEqual(c.take('b', paid, 2000), [rec(70001, 1)]);
  });

  test('a plain HTLC that begins a new set: the failed set’s records are not its (model finding)', () => {
    let now = 0;
    const c = new RecordCapture(undefined, () => now);
    // Part 1 of 2 carried records and timed out; 200 s later a plain 1000 msat payment paid.
    c.add('a', htlc([rec(7629169, 10)], { amountMsat: 500 }));
    now = 200_000;
    c.add('a', htlc([]));
    assert.equal(c.take('a', paid, 1000), undefined);
    assert.equal(c.size, 0);
    // A plain part within the set's time is one of its parts: the set keeps its records.
    now = 0;
    c.add('b', htlc([rec(7629169, 10)], { amountMsat: 500 }));
    c.add('b', htlc([], { amountMsat: 500 }));
    assert.deepEqual(c.take('b', paid, 1000), [rec(7629169, 10)]);
    // A plain HTLC on a hash with nothing held is not kept.
    c.add('c', htlc([]));
    assert.equal(c.holds('c'), false);
  });

  test('HTLCs carrying more than lightningd pays are not its set: nothing is given', () => {
    const c = new RecordCapture();
    c.add('a', htlc([rec(70001, 1)]));
    c.add('a', htlc([rec(70003, 1)]));
    assert.equal(c.take('a', paid, 1000), undefined);
  });

  test('past its time to live a payment’s records are not given', () => {
    let now = 0;
    const c = new RecordCapture({ maxPayments: 10, maxBytes: 1000, ttlMs: 100 }, () => now);
    c.add('a', htlc([rec(70000, 1)]));
    now = 101;
    assert.equal(c.take('a', paid, 1000), undefined);
  });

  test('at most maxPayments: the oldest goes first', () => {
    const c = new RecordCapture({ maxPayments: 2, maxBytes: 1000, ttlMs: 1e9 });
    for (const h of ['a', 'b', 'c']) c.add(h, htlc([rec(70001, 1)]));
    assert.equal(c.size, 2);
    assert.equal(c.take('a', paid, 1000), undefined);
    assert.ok(c.take('c', paid, 1000));
  });

  test('at most maxBytes: the oldest go until the new fit; an HTLC larger than all is not held', () => {
    const c = new RecordCapture({ maxPayments: 100, maxBytes: 100, ttlMs: 1e9 });
    c.add('a', htlc([rec(70001, 60)]));
    c.add('b', htlc([rec(70001, 60)]));
    assert.equal(c.take('a', paid, 1000), undefined);
    assert.ok(c.take('b', paid, 1000));
    c.add('huge', htlc([rec(70001, 101)]));
    assert.equal(c.size, 0);
  });

  test('property: never more than the limits, and nothing from another secret, whatever arrives', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 20 }),
            fc.integer({ min: 65536, max: 65540 }),
            fc.integer({ min: 0, max: 50 }),
            fc.boolean(),
          ),
        ),
        (adds) => {
          const c = new RecordCapture({ maxPayments: 5, maxBytes: 120, ttlMs: 1e9 });
          let held = 0;
          for (const [h, type, bytes, forged] of adds) {
            // A forged HTLC's records have an odd length; the payer's an even one.
            const length = forged ? bytes | 1 : bytes & ~1;
            c.add(
              String(h),
              htlc([rec(type, length)], { amountMsat: 1, ...(forged ? { secret: FORGED } : {}) }),
            );
            assert.ok(c.size <= 5);
          }
          for (let h = 0; h <= 20; h++) {
            const taken = c.take(String(h), paid, 1e9) ?? [];
            assert.ok(
              taken.every((r) => r.value.length % 2 === 0),
              'a forged record was given',
            );
            held += taken.reduce((n, r) => n + r.value.length, 0);
          }
          assert.ok(held <= 120, `${held} bytes held`);
        },
      ),
    );
  });
});
