import assert from 'node:assert/strict';
import { BLIP10_SAMPLE } from './support/blip10.js';
import { describe, test } from 'node:test';
import {
  APP_RECORD,
  CodecError,
  concat,
  decodeHopPayload,
  encodeFinalPayload,
  encodeUint,
  fromHex,
  JSON_MAX_BYTES,
  JSON_MAX_DEPTH,
  lnmsgEvenRecords,
  readPaymentRecords,
  RECORD,
  stripRecords,
  type TlvRecord,
  utf8,
} from '../src/index.js';

// bLIP-10's own sample record, the hex exactly as blip-0010.md gives it (note the final newline, 0a)
const BLIP10_SAMPLE_HEX =
  '7b226170705f6e616d65223a202243617374616d61746963222c20226170705f76657273696f6e223a2022382e302e36222c202276616c75655f6d7361745f746f74616c223a2034393936302c202275726c223a202268747470733a2f2f66656564732e62757a7a7370726f75742e636f6d2f313834343335322e727373222c2022706f6463617374223a20224d657265204d6f7274616c73222c2022616374696f6e223a202273747265616d222c2022657069736f6465223a202254686520417274204f66204e4654277320262041696d6c6573732057616e646572696e67222c2022657069736f64655f67756964223a202242757a7a7370726f75742d39393331303137222c202276616c75655f6d736174223a2039373934302c20227473223a203537342c20226e616d65223a2022506f64636173746572222c202273656e6465725f6e616d65223a20225065746572227d0a';

const rec = (type: bigint, value: Uint8Array | string): TlvRecord => ({
  type,
  value: typeof value === 'string' ? utf8.encode(value) : value,
});
const boost = (json: string) => rec(APP_RECORD.boostagram, json);
const nested = (depth: number) => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;

describe('readPaymentRecords', () => {
  test("bLIP-10's sample: every field under boostagram, no text (it has no message)", () => {
    const r = readPaymentRecords([rec(APP_RECORD.boostagram, fromHex(BLIP10_SAMPLE_HEX))]);
    assert.deepEqual(r, {
      records: [{ type: '7629169', value: BLIP10_SAMPLE_HEX }],
      boostagram: BLIP10_SAMPLE,
      problems: [],
    });
  });

  test("a boostagram's message is the text; the message record's text comes first", () => {
    const b = boost('{"message":"from boost","action":"boost"}');
    assert.equal(readPaymentRecords([b]).text, 'from boost');
    const both = readPaymentRecords([b, rec(RECORD.message, 'from lnmsg')]);
    assert.equal(both.text, 'from lnmsg');
    assert.equal(both.boostagram?.['message'], 'from boost');
  });

  test('chat records, tip note and an unknown record', () => {
    const sender = new Uint8Array(33).fill(7);
    sender[0] = 3;
    const sig = new Uint8Array(64).fill(9);
    const records = [
      rec(APP_RECORD.tipNote, 'thanks ☕'),
      rec(RECORD.message, 'hello'),
      rec(RECORD.signature, sig),
      rec(RECORD.sender, sender),
      rec(RECORD.senderName, 'alice'),
      rec(RECORD.timestamp, encodeUint(1_700_000_000_123_456_789n, 8)),
      rec(RECORD.contentType, 'text/plain'),
      rec(99999n, new Uint8Array([0xff])),
    ];
    const r = readPaymentRecords(records);
    assert.deepEqual(
      r.records.map((x) => x.type),
      records.map((x) => x.type.toString()),
    );
    assert.equal(r.records.at(-1)?.value, 'ff');
    assert.equal(r.text, 'hello');
    assert.equal(r.tipNote, 'thanks ☕');
    assert.equal(r.sender, '03' + '07'.repeat(32));
    assert.equal(r.signature, '09'.repeat(64));
    assert.equal(r.senderName, 'alice');
    assert.equal(r.timestampNs, '1700000000123456789');
    assert.equal(r.contentType, 'text/plain');
    assert.deepEqual(r.problems, []);
  });

  test('the message record type is the one given', () => {
    const records = [rec(RECORD.message, 'default type'), rec(34349335n, 'configured')];
    assert.equal(readPaymentRecords(records, 34349335n).text, 'configured');
    assert.equal(readPaymentRecords(records).text, 'default type');
  });

  const flagged: [string, TlvRecord, RegExp][] = [
    ['invalid JSON', boost('{"message": "hi"'), /not valid JSON/],
    ['JSON that is an array', boost('["hi"]'), /not an object/],
    ['JSON null', boost('null'), /not an object/],
    ['JSON string', boost('"hi"'), /not an object/],
    ['invalid UTF-8 in JSON', rec(APP_RECORD.boostagram, new Uint8Array([0x7b, 0xc3, 0x7d])), /UTF-8/],
    ['nesting past the limit', boost(nested(JSON_MAX_DEPTH + 1)), /nested deeper than 16/],
    ['absurd nesting', boost('['.repeat(60_000)), /nested deeper/],
    ['a __proto__ key', boost('{"message":"hi","__proto__":{"polluted":true}}'), /"__proto__" refused/],
    ['a nested constructor key', boost('{"a":[{"constructor":1}]}'), /"constructor" refused/],
    ['JSON over 64 KiB', boost(`{"message":"${'x'.repeat(JSON_MAX_BYTES)}"}`), /more than 65536/],
    ['invalid UTF-8 text', rec(RECORD.message, new Uint8Array([0xc3, 0x28])), /UTF-8/],
    ['invalid UTF-8 tip note', rec(APP_RECORD.tipNote, new Uint8Array([0xff])), /UTF-8/],
    ['a 32-byte sender', rec(RECORD.sender, new Uint8Array(32).fill(2)), /32 bytes, needs 33/],
    ['a sender not 02/03', rec(RECORD.sender, new Uint8Array(33).fill(4)), /compressed public key/],
    ['a 7-byte timestamp', rec(RECORD.timestamp, new Uint8Array(7)), /7 bytes, needs 8/],
    ['a 65-byte signature', rec(RECORD.signature, new Uint8Array(65)), /65 bytes, needs 64/],
    ['a record below 65536', rec(8n, new Uint8Array(40)), /not a custom record/],
  ];
  for (const [what, record, why] of flagged) {
    test(`${what}: kept raw and flagged, no field`, () => {
      const r = readPaymentRecords([record, rec(99999n, 'unknown: raw only')]);
      assert.equal(r.records.length, 2);
      assert.equal(r.records[0]?.value.length, record.value.length * 2);
      assert.equal(r.problems.length, 1);
      assert.equal(r.problems[0]?.type, record.type.toString());
      assert.match(r.problems[0]?.why ?? '', why);
      for (const field of ['text', 'boostagram', 'sender', 'timestampNs', 'signature', 'tipNote'] as const) {
        assert.equal(r[field], undefined, field);
      }
    });
  }

  test('nesting at the limit is read', () => {
    assert.deepEqual(readPaymentRecords([boost(nested(JSON_MAX_DEPTH))]).problems, []);
  });

  test('a __proto__ key pollutes nothing', () => {
    readPaymentRecords([boost('{"__proto__":{"polluted":true}}')]);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  test('a boostagram whose message is not text: kept under boostagram, flagged, no text', () => {
    const r = readPaymentRecords([boost('{"message":42,"ts":1}')]);
    assert.deepEqual(r.boostagram, { message: 42, ts: 1 });
    assert.equal(r.text, undefined);
    assert.deepEqual(r.problems, [{ type: '7629169', why: '"message" is not a string' }]);
  });

  test('a known record twice (extratlvs are not checked for order): the first is read', () => {
    const r = readPaymentRecords([rec(RECORD.message, 'first'), rec(RECORD.message, 'second')]);
    assert.equal(r.text, 'first');
    assert.equal(r.records.length, 2);
    assert.deepEqual(r.problems, [{ type: '34349334', why: 'appears again: the first one is read' }]);
  });

  test('a leading BOM stays in the text (the text is the bytes)', () => {
    assert.equal(readPaymentRecords([rec(RECORD.message, '\uFEFFhi')]).text, '\uFEFFhi');
  });

  test('guards: message type, records', () => {
    assert.throws(() => readPaymentRecords([], 5n), RangeError);
    assert.throws(() => readPaymentRecords([], RECORD.sender), /another known record/);
    assert.throws(() => readPaymentRecords([], APP_RECORD.boostagram), RangeError);
    assert.throws(() => readPaymentRecords('x' as unknown as TlvRecord[]), TypeError);
    assert.throws(() => readPaymentRecords([{ type: 70000, value: new Uint8Array() }] as never), TypeError);
    assert.throws(() => readPaymentRecords([{ type: 70000n, value: [1] }] as never), TypeError);
  });
});

describe('stripRecords', () => {
  const payload = encodeFinalPayload({
    amtToForward: 5000n,
    outgoingCltvValue: 126,
    paymentData: { paymentSecret: new Uint8Array(32).fill(1), totalMsat: 5000n },
    customRecords: [rec(RECORD.message, 'even, lnmsg only'), rec(34349335n, 'odd')],
  });

  test("takes out lnmsg's even records; the rest is the same bytes", () => {
    const out = stripRecords(payload, lnmsgEvenRecords(RECORD.message));
    const d = decodeHopPayload(out, (t) => t % 2n === 1n);
    assert.deepEqual(
      d.customRecords.map((r) => r.type),
      [34349335n],
    );
    assert.equal(d.amtToForward, 5000n);
    const msgRecordBytes = 5 + 1 + 'even, lnmsg only'.length;
    assert.equal(out.length, payload.length - msgRecordBytes);
  });

  test('nothing to take out: the same bytes', () => {
    assert.deepEqual(stripRecords(payload, new Set([34349338n])), payload);
  });

  test('lnmsgEvenRecords: the message type only when even, and the chunk record', () => {
    assert.deepEqual([...lnmsgEvenRecords(34349334n)], [34349334n, RECORD.chunk]);
    assert.deepEqual([...lnmsgEvenRecords(34349335n)], [RECORD.chunk]);
  });

  test('guards: BOLT 4 types are not stripped; bad TLV is a CodecError', () => {
    assert.throws(() => stripRecords(payload, new Set([8n])), RangeError);
    assert.throws(() => stripRecords(concat(payload, new Uint8Array([0xfe])), new Set()), CodecError);
    assert.throws(() => stripRecords('00' as unknown as Uint8Array, new Set()), TypeError);
  });
});
