import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  APP_RECORD,
  buildOnion,
  CodecError,
  decodeBigSize,
  decodeChunk,
  decodeFailureMessage,
  decodeHopPayload,
  decodeRefusal,
  decodeTlvStream,
  decodeTruncated,
  decryptFailureReply,
  encodeBigSize,
  encodeChunk,
  encodeFinalPayload,
  encodeIntermediatePayload,
  encodeRefusal,
  encodeTlvRecord,
  encodeTlvStream,
  encodeTruncated,
  incorrectOrUnknownPaymentDetails,
  peelOnion,
  readPaymentRecords,
  RECORD,
  REFUSAL_CAUSES,
  scidFromString,
  scidToString,
  stripLengthPrefix,
  stripRecords,
  toHex,
  type TlvRecord,
  utf8,
  withLengthPrefix,
} from '../src/index.js';
import { randomNodes } from './support/route.js';

const RUNS = 10_000;
const REASONS = new Set([
  'truncated',
  'non-minimal',
  'out-of-order',
  'duplicate',
  'unknown-even-type',
  'length-overflow',
  'invalid-value',
  'too-large',
  'bad-hmac',
]);

/** Runs `fn` on 10,000 random inputs: it may return or throw a CodecError with a known reason, nothing else. */
function neverThrowsOtherThanCodecError<T>(arb: fc.Arbitrary<T>, fn: (input: T) => unknown): void {
  fc.assert(
    fc.property(arb, (input) => {
      try {
        fn(input);
      } catch (e) {
        if (!(e instanceof CodecError) || !REASONS.has(e.reason) || e.message.length < 10) throw e;
      }
    }),
    { numRuns: RUNS },
  );
}

const bytes = (maxLength = 64) => fc.uint8Array({ maxLength });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const customType = fc.bigInt({ min: 65536n, max: (1n << 64n) - 1n });

const sortedRecords = (type: fc.Arbitrary<bigint>) =>
  fc
    .uniqueArray(fc.record({ type, value: bytes(40) }), { selector: (r) => r.type, maxLength: 6 })
    .map((rs) =>
      rs.map((r) => ({ type: r.type, value: r.value })).sort((a, b) => (a.type < b.type ? -1 : 1)),
    );

describe('BigSize', () => {
  test('encode then decode is identity', () => {
    fc.assert(
      fc.property(u64, (v) => {
        const enc = encodeBigSize(v);
        assert.deepEqual(decodeBigSize(enc), { value: v, length: enc.length });
      }),
    );
  });
  test('random bytes: only CodecError', () => neverThrowsOtherThanCodecError(bytes(12), decodeBigSize));
});

describe('truncated integers', () => {
  for (const max of [2, 4, 8] as const) {
    test(`tu${8 * max}: encode then decode is identity`, () => {
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: (1n << BigInt(8 * max)) - 1n }), (v) => {
          assert.equal(decodeTruncated(encodeTruncated(v, max), max), v);
        }),
      );
    });
    test(`tu${8 * max}: random bytes only CodecError`, () =>
      neverThrowsOtherThanCodecError(bytes(10), (b) => decodeTruncated(b, max)));
  }
});

describe('TLV stream', () => {
  test('encode then decode is identity', () => {
    fc.assert(
      fc.property(sortedRecords(u64), (records) => {
        assert.deepEqual(decodeTlvStream(encodeTlvStream(records), { isKnown: () => true }), records);
      }),
    );
  });
  test('random bytes: only CodecError', () =>
    neverThrowsOtherThanCodecError(bytes(80), (b) => decodeTlvStream(b)));
});

describe('hop payloads', () => {
  const amount = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const cltv = fc.integer({ min: 0, max: 0xffffffff });

  test('intermediate: encode then decode is identity', () => {
    fc.assert(
      fc.property(amount, cltv, u64, (amt, c, scid) => {
        const framed = withLengthPrefix(
          encodeIntermediatePayload({ amtToForward: amt, outgoingCltvValue: c, shortChannelId: scid }),
        );
        const d = decodeHopPayload(stripLengthPrefix(framed));
        assert.deepEqual([d.amtToForward, d.outgoingCltvValue, d.shortChannelId], [amt, c, scid]);
      }),
    );
  });

  test('final: encode then decode is identity', () => {
    const paymentData = fc.option(
      fc
        .tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), amount)
        .map(([paymentSecret, totalMsat]) => ({ paymentSecret, totalMsat })),
      {
        nil: undefined,
      },
    );
    fc.assert(
      fc.property(
        amount,
        cltv,
        paymentData,
        sortedRecords(customType),
        (amt, c, pd, records: TlvRecord[]) => {
          const tlv = encodeFinalPayload({
            amtToForward: amt,
            outgoingCltvValue: c,
            paymentData: pd,
            customRecords: records,
          });
          const d = decodeHopPayload(stripLengthPrefix(withLengthPrefix(tlv)));
          assert.equal(d.amtToForward, amt);
          assert.equal(d.outgoingCltvValue, c);
          assert.deepEqual(d.paymentData, pd);
          assert.deepEqual(d.customRecords, records);
        },
      ),
    );
  });

  test('random bytes: only CodecError', () =>
    neverThrowsOtherThanCodecError(bytes(120), (b) => decodeHopPayload(stripLengthPrefix(b))));
});

describe('short_channel_id text', () => {
  test('to string and back is identity', () => {
    fc.assert(fc.property(u64, (v) => assert.equal(scidFromString(scidToString(v)), v)));
  });
  test('random text: only CodecError', () =>
    neverThrowsOtherThanCodecError(fc.string({ maxLength: 30 }), scidFromString));
});

describe('message pieces (lnmsg record 34349338)', () => {
  const piece = fc
    .record({
      token: fc.uint8Array({ minLength: 8, maxLength: 8 }),
      offset: fc.nat({ max: 100_000 }),
      data: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      after: fc.nat({ max: 1000 }),
      id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    })
    .map(({ token, offset, data, after, id }) => ({
      token,
      offset,
      total: offset + data.length + after,
      data,
      ...(offset === 0 ? { messageId: id } : {}),
    }));
  test('encode then decode is identity', () => {
    fc.assert(
      fc.property(piece, (c) => assert.deepEqual(decodeChunk(encodeChunk(c)), { ...c })),
      { numRuns: RUNS },
    );
  });
  test('random bytes: only CodecError', () => neverThrowsOtherThanCodecError(bytes(80), decodeChunk));
});

describe('refusals after incorrect_or_unknown_payment_details', () => {
  const refusal = fc.record(
    { cause: fc.constantFrom(...REFUSAL_CAUSES), reason: fc.string({ maxLength: 40 }) },
    { requiredKeys: ['cause'] },
  );
  test('encode then decode is identity (reasons at most 120 bytes)', () => {
    fc.assert(
      fc.property(refusal, (r) => {
        const want = r.reason ? { cause: r.cause, reason: r.reason } : { cause: r.cause };
        assert.deepEqual(decodeRefusal(encodeRefusal(r)), want);
        const failure = incorrectOrUnknownPaymentDetails(1000n, 108, encodeRefusal(r));
        assert.deepEqual(decodeRefusal(decodeFailureMessage(failure).trailing ?? new Uint8Array()), want);
      }),
      { numRuns: RUNS },
    );
    const long = decodeRefusal(encodeRefusal({ cause: 'refused', reason: 'é'.repeat(100) }));
    assert.equal(long?.reason, 'é'.repeat(60), 'cut at 120 bytes, never inside a character');
  });
  test('random trailing bytes: a refusal or nothing, never a throw', () => {
    fc.assert(
      fc.property(bytes(60), (b) => {
        const r = decodeRefusal(b);
        assert.ok(r === undefined || REFUSAL_CAUSES.includes(r.cause));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('failure messages and replies', () => {
  test('random failure messages: only CodecError', () =>
    neverThrowsOtherThanCodecError(bytes(300), decodeFailureMessage));
  test('random replies against random route secrets: only CodecError', () => {
    const secrets = [randomBytes(32), randomBytes(32), randomBytes(32)];
    neverThrowsOtherThanCodecError(bytes(400), (b) => decryptFailureReply(secrets, b));
  });
});

describe('Sphinx onion', () => {
  const nodes = randomNodes(4);
  const assoc = randomBytes(32);

  test('build then peel returns every payload', () => {
    const payload = fc.uint8Array({ minLength: 1, maxLength: 250 }).map((b) => withLengthPrefix(b));
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 4 }), (payloads) => {
        const hops = payloads.map((p, i) => ({
          pubkey: (nodes[i] as { pubkey: Uint8Array }).pubkey,
          payload: p,
        }));
        let packet = buildOnion(hops, randomBytes(32), assoc).packet;
        for (const [i, h] of hops.entries()) {
          const peeled = peelOnion(packet, (nodes[i] as { secretKey: Uint8Array }).secretKey, assoc);
          assert.deepEqual(peeled.framedPayload, h.payload);
          assert.equal(peeled.isFinal, i === hops.length - 1);
          packet = peeled.nextOnion;
        }
      }),
      { numRuns: 50 },
    );
  });

  test('random packets: only CodecError', () => {
    // Half the packets get version 0 and a real point, so the HMAC and payload checks are reached too.
    const packet = fc
      .tuple(fc.boolean(), fc.uint8Array({ minLength: 1366, maxLength: 1366 }))
      .map(([deep, p]) => {
        if (deep) {
          p[0] = 0;
          p.set(nodes[0]?.pubkey as Uint8Array, 1);
        }
        return p;
      });
    neverThrowsOtherThanCodecError(packet, (p) =>
      peelOnion(p, (nodes[1] as { secretKey: Uint8Array }).secretKey, assoc),
    );
  });
});

describe('payment records (what a payee keeps)', () => {
  const KNOWN = [
    RECORD.message,
    RECORD.sender,
    RECORD.signature,
    RECORD.timestamp,
    RECORD.senderName,
    RECORD.contentType,
    APP_RECORD.boostagram,
    APP_RECORD.tipNote,
  ];
  // values that decode and values that nearly do: JSON (objects, other values, nested), text, bytes
  const value = fc.oneof(
    fc.uint8Array({ maxLength: 70 }),
    fc.string({ unit: 'grapheme', maxLength: 30 }).map(utf8.encode),
    fc.json({ depthSize: 'medium' }).map(utf8.encode),
    fc.object({ maxDepth: 3 }).map((o) => utf8.encode(JSON.stringify(o) ?? 'null')),
    fc
      .dictionary(fc.string(), fc.oneof(fc.string(), fc.integer()))
      .map((o) => utf8.encode(JSON.stringify(o))),
  );
  const type = fc.oneof(fc.constantFrom(...KNOWN), customType, fc.bigInt({ min: 0n, max: 65535n }));
  const records = fc.array(fc.record({ type, value }), { maxLength: 8 });
  const textOf = (v: Uint8Array) => {
    try {
      return utf8.decode(v);
    } catch {
      return undefined;
    }
  };

  test('never throws; every record listed raw, in order; each field from a record present', () => {
    fc.assert(
      fc.property(records, (recs) => {
        const r = readPaymentRecords(recs);
        assert.deepEqual(
          r.records,
          recs.map((x) => ({ type: x.type.toString(), value: toHex(x.value) })),
        );
        // the first record of each known type is the one read
        const first = (t: bigint) => recs.find((x) => x.type === t)?.value;
        const hexOf = (t: bigint) => {
          const v = first(t);
          return v && toHex(v);
        };
        if (r.sender !== undefined) assert.equal(r.sender, hexOf(RECORD.sender));
        if (r.signature !== undefined) assert.equal(r.signature, hexOf(RECORD.signature));
        if (r.timestampNs !== undefined) assert.equal(hexOf(RECORD.timestamp)?.length, 16);
        if (r.timestampNs !== undefined)
          assert.equal(BigInt(r.timestampNs), BigInt('0x' + (hexOf(RECORD.timestamp) ?? '')));
        for (const [field, t] of [
          ['senderName', RECORD.senderName],
          ['contentType', RECORD.contentType],
          ['tipNote', APP_RECORD.tipNote],
        ] as const) {
          if (r[field] !== undefined) assert.equal(r[field], textOf(first(t) ?? new Uint8Array([0xff])));
        }
        const boostBytes = first(APP_RECORD.boostagram);
        if (r.boostagram !== undefined) {
          assert.ok(boostBytes);
          assert.deepEqual(r.boostagram, JSON.parse(utf8.decode(boostBytes)));
        }
        if (r.text !== undefined) {
          const msg = first(RECORD.message);
          assert.ok(
            (msg !== undefined && r.text === textOf(msg)) ||
              (msg === undefined && r.text === r.boostagram?.['message']),
          );
        }
        // a known record read first either gives its field or is flagged
        const types = new Set(recs.map((x) => x.type.toString()));
        for (const p of r.problems) assert.ok(types.has(p.type), p.type);
        if (first(RECORD.sender) && r.sender === undefined)
          assert.ok(r.problems.some((p) => p.type === RECORD.sender.toString()));
        if (boostBytes && r.boostagram === undefined)
          assert.ok(r.problems.some((p) => p.type === APP_RECORD.boostagram.toString()));
        // plain data: JSON round trip is the identity
        assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
      }),
      { numRuns: RUNS },
    );
  });

  test('stripping records: the input less exactly their bytes', () => {
    const stream = sortedRecords(fc.oneof(u64, fc.constantFrom(RECORD.message, RECORD.chunk, 34349335n)));
    const drop = fc.uniqueArray(fc.oneof(customType, fc.constantFrom(RECORD.message, RECORD.chunk)), {
      maxLength: 3,
    });
    fc.assert(
      fc.property(stream, drop, (recs, dropped) => {
        const types = new Set(dropped);
        const pieces = recs.map(encodeTlvRecord);
        const input = new Uint8Array(pieces.flatMap((p) => [...p]));
        const expected = new Uint8Array(
          pieces.filter((_, i) => !types.has(recs[i]?.type ?? -1n)).flatMap((p) => [...p]),
        );
        assert.deepEqual(stripRecords(input, types), expected);
      }),
      { numRuns: RUNS },
    );
  });

  test('stripping random bytes: only CodecError', () =>
    neverThrowsOtherThanCodecError(bytes(80), (b) => stripRecords(b, new Set([RECORD.message]))));
});
