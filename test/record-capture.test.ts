import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RecordCapture } from '../src/receive/record-capture.js';

const rec = (type: number, bytes: number) => ({
  type: BigInt(type),
  value: new Uint8Array(bytes).fill(type % 256),
});

describe('RecordCapture: records held between htlc_accepted and invoice_payment', () => {
  test('taken once, then gone', () => {
    const c = new RecordCapture();
    c.add('a', [rec(7629169, 10)]);
    assert.deepEqual(c.take('a'), [rec(7629169, 10)]);
    assert.equal(c.take('a'), undefined);
    assert.equal(c.size, 0);
  });

  test('the parts of one payment add the types they alone carry, in type order', () => {
    const c = new RecordCapture();
    c.add('a', [rec(7629171, 3)]);
    c.add('a', [rec(7629169, 5), rec(7629171, 9)]);
    assert.deepEqual(c.take('a'), [rec(7629169, 5), rec(7629171, 3)]);
  });

  test('past its time to live a payment’s records are not given', () => {
    let now = 0;
    const c = new RecordCapture({ maxPayments: 10, maxBytes: 1000, ttlMs: 100 }, () => now);
    c.add('a', [rec(70000, 1)]);
    now = 101;
    assert.equal(c.take('a'), undefined);
  });

  test('at most maxPayments: the oldest goes first', () => {
    const c = new RecordCapture({ maxPayments: 2, maxBytes: 1000, ttlMs: 1e9 });
    for (const h of ['a', 'b', 'c']) c.add(h, [rec(70001, 1)]);
    assert.equal(c.size, 2);
    assert.equal(c.take('a'), undefined);
    assert.ok(c.take('c'));
  });

  test('at most maxBytes: the oldest go until the new fit; a payment larger than all is not held', () => {
    const c = new RecordCapture({ maxPayments: 100, maxBytes: 100, ttlMs: 1e9 });
    c.add('a', [rec(70001, 60)]);
    c.add('b', [rec(70001, 60)]);
    assert.equal(c.take('a'), undefined);
    assert.ok(c.take('b'));
    c.add('huge', [rec(70001, 101)]);
    assert.equal(c.size, 0);
    // Parts of one payment that together pass the limit: none of it is held.
    c.add('parts', [rec(70001, 60)]);
    c.add('parts', [rec(70003, 41)]);
    assert.equal(c.take('parts'), undefined);
  });

  test('property: never more than the limits, whatever arrives', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 20 }),
            fc.integer({ min: 65536, max: 65540 }),
            fc.integer({ min: 0, max: 50 }),
          ),
        ),
        (adds) => {
          const c = new RecordCapture({ maxPayments: 5, maxBytes: 120, ttlMs: 1e9 });
          let held = 0;
          for (const [h, type, bytes] of adds) {
            c.add(String(h), [rec(type, bytes)]);
            assert.ok(c.size <= 5);
          }
          for (let h = 0; h <= 20; h++)
            held += (c.take(String(h)) ?? []).reduce((n, r) => n + r.value.length, 0);
          assert.ok(held <= 120, `${held} bytes held`);
        },
      ),
    );
  });
});
