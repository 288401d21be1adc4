import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CodecError,
  type CodecReason,
  decodeBigSize,
  decodeTlvStream,
  encodeBigSize,
  fromHex,
  point,
  scidToString,
  sequence,
  tlvNamespace,
  toHex,
  tu32,
  tu64,
  u16,
  u64,
} from '../src/index.js';
import { bigSizeVectors, tlvVectors } from './support/bolt1-vectors.js';
import { needsShared, readShared } from './support/shared.js';

const BOLT1 = ['reference', 'bolts', '01-messaging.md'];
const available = needsShared(...BOLT1);
const markdown = available.skip ? '' : readShared(...BOLT1);

const n1 = tlvNamespace('n1', {
  tlv1: [1n, tu64],
  tlv2: [2n, u64],
  tlv3: [
    3n,
    sequence<{ node_id: Uint8Array; amount_msat_1: bigint; amount_msat_2: bigint }>({
      node_id: [33, point],
      amount_msat_1: [8, u64],
      amount_msat_2: [8, u64],
    }),
  ],
  tlv4: [254n, u16],
});
const n2 = tlvNamespace('n2', { tlv1: [0n, tu64], tlv2: [11n, tu32] });
const namespaces = { n1, n2 };

function codecReason(fn: () => unknown): CodecReason {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CodecError, `expected CodecError, got ${e}`);
    return e.reason;
  }
  assert.fail('expected a CodecError');
}

/** BOLT 1's reason wording -> our typed reason. */
function expectedReason(text: string): CodecReason {
  const table: [RegExp, CodecReason][] = [
    [/not minimal|not minimally|not canonical/, 'non-minimal'],
    [/greater than encoding length/, 'length-overflow'],
    [/less than encoding length|truncated|missing|EOF/, 'truncated'],
    [/unknown even/, 'unknown-even-type'],
    [/not a valid point/, 'invalid-value'],
    [/duplicate/, 'duplicate'],
    [/ordering/, 'out-of-order'],
  ];
  const hit = table.find(([re]) => re.test(text));
  assert.ok(hit, `no mapping for reason "${text}"`);
  return hit[1];
}

describe('BOLT 1 Appendix A: BigSize', available, () => {
  const { decoding, encoding } = available.skip ? { decoding: [], encoding: [] } : bigSizeVectors(markdown);

  test('the vectors were found', () => {
    assert.ok(decoding.length >= 18 && encoding.length >= 8);
  });
  for (const v of decoding) {
    test(`decode: ${v.name}`, () => {
      const bytes = fromHex(v.bytes);
      if (v.exp_error)
        assert.equal(
          codecReason(() => decodeBigSize(bytes)),
          expectedReason(v.exp_error),
        );
      else assert.deepEqual(decodeBigSize(bytes), { value: BigInt(v.value), length: bytes.length });
    });
  }
  for (const v of encoding) {
    test(`encode: ${v.name}`, () => assert.equal(toHex(encodeBigSize(BigInt(v.value))), v.bytes));
  }
});

describe('BOLT 1 Appendix B: TLV streams', available, () => {
  const vectors = available.skip ? [] : tlvVectors(markdown);

  test('the vectors were found', () => {
    assert.ok(vectors.filter((v) => !v.valid).length >= 38);
    assert.ok(vectors.filter((v) => v.valid).length >= 19);
  });

  for (const v of vectors) {
    for (const ns of v.namespaces) {
      const name = `${ns} ${v.valid ? 'valid' : 'invalid'} 0x${v.stream} (${v.text || 'ignored'})`;
      test(name, () => {
        const bytes = fromHex(v.stream);
        const codec = namespaces[ns];
        if (!v.valid) {
          assert.equal(
            codecReason(() => codec.decode(bytes)),
            expectedReason(v.text),
          );
          return;
        }
        const { values, others } = codec.decode(bytes);
        if (v.text.startsWith('`')) assertValues(values as Record<string, unknown>, v.text);
        else {
          assert.deepEqual(values, {}, 'ignored streams set no known value');
          assert.equal(
            others.every((r) => r.type % 2n === 1n),
            true,
          );
        }
      });
    }
  }

  test('appending an invalid stream to a valid one fails', () => {
    const valid = vectors.filter((v) => v.valid && v.namespaces.includes('n1'));
    const invalid = vectors.filter((v) => !v.valid && v.namespaces.length === 2);
    for (const a of valid) {
      for (const b of invalid) {
        assert.throws(() => n1.decode(fromHex(a.stream + b.stream)), CodecError, `${a.stream} + ${b.stream}`);
      }
    }
  });

  test('appending a higher-numbered valid stream to a lower-numbered one decodes', () => {
    const valid = vectors.filter((v) => v.valid && v.namespaces.includes('n1') && v.stream !== '');
    const firstType = (s: string) => decodeTlvStream(fromHex(s), { isKnown: () => true })[0]?.type ?? -1n;
    let pairs = 0;
    for (const a of valid) {
      for (const b of valid) {
        if (firstType(b.stream) <= firstType(a.stream)) continue;
        n1.decode(fromHex(a.stream + b.stream));
        pairs++;
      }
    }
    assert.ok(pairs > 10);
  });
});

/** Checks a line like "`tlv3` `node_id`=02.. `amount_msat_1`=1 `amount_msat_2`=2" against decoded values. */
function assertValues(values: Record<string, unknown>, text: string): void {
  const record = /^`(\w+)`/.exec(text)?.[1] as string;
  const got = values[record];
  assert.ok(got !== undefined, `${record} decoded`);
  for (const [, field, expected] of text.matchAll(/`(\w+)`=(\S+)/g)) {
    const actual: unknown = record === 'tlv3' ? (got as Record<string, unknown>)[field as string] : got;
    if (field === 'scid') assert.equal(scidToString(actual as bigint), expected);
    else if (actual instanceof Uint8Array) assert.equal(toHex(actual), expected);
    else assert.equal(actual, BigInt(expected as string));
  }
}
