import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JsonStream, type Parsed } from '../src/cln/json-stream.js';
import { FIXTURES, rpcRecord, rpcRecords } from './support/fake-lightningd.js';
import { lightningdMessages, pipeRecords } from './support/recorded.js';
import { needsShared } from './support/shared.js';

const bytes = (s: string) => Buffer.from(s, 'utf8');

function values(results: Parsed[]): unknown[] {
  return results.map((r) => {
    assert.ok(r.ok, r.ok ? '' : r.error);
    return r.value;
  });
}

/** Feeds `pieces` in order to one stream and returns everything it parsed. */
function feed(...pieces: Uint8Array[]): unknown[] {
  const s = new JsonStream();
  return pieces.flatMap((p) => values(s.push(p)));
}

/**
 * Splits `text` (one message plus its "\n\n") at every byte boundary: the message comes out
 * exactly once, from the second push unless the first already held its closing brace.
 */
function assertEverySplit(text: string, expected: unknown): void {
  const b = bytes(text);
  const closing = b.lastIndexOf(0x7d);
  for (let i = 1; i < b.length; i++) {
    const s = new JsonStream();
    const first = values(s.push(b.subarray(0, i)));
    const second = values(s.push(b.subarray(i)));
    if (i > closing) {
      assert.deepEqual(first, [expected], `split at ${i}`);
      assert.deepEqual(second, [], `split at ${i}`);
    } else {
      assert.deepEqual(first, [], `split at ${i}`);
      assert.deepEqual(second, [expected], `split at ${i}`);
    }
  }
}

/** One byte per read. */
function oneByteAtATime(text: string): unknown[] {
  const b = bytes(text);
  return feed(...Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1)));
}

const FIX = needsShared(...FIXTURES);

describe('JsonStream: plugin stdin as lightningd wrote it', FIX, () => {
  test('each recorded stdin read gives exactly the one message it holds', () => {
    const reads = pipeRecords('plugin-stdin-framing.jsonl').filter((r) => r.kind === 'stdin');
    assert.equal(reads.length, 7);
    const s = new JsonStream();
    for (const r of reads) {
      assert.ok(r.raw.endsWith('\n\n'), 'lightningd ends each message with "\\n\\n"');
      assert.deepEqual(values(s.push(bytes(r.raw))), [JSON.parse(r.raw)]);
    }
  });

  test('all recorded reads coalesced into one chunk give every message, in order', () => {
    const reads = pipeRecords('plugin-stdin-framing.jsonl').filter((r) => r.kind === 'stdin');
    const all = reads.map((r) => r.raw).join('');
    assert.deepEqual(
      feed(bytes(all)),
      reads.map((r) => JSON.parse(r.raw)),
    );
  });

  test('every recorded stdin read split at every byte boundary', () => {
    for (const r of pipeRecords('plugin-stdin-framing.jsonl').filter((x) => x.kind === 'stdin')) {
      assertEverySplit(r.raw, JSON.parse(r.raw));
    }
  });

  test('lightning-cli passthrough text (its own spacing) in every split and byte by byte', () => {
    for (const { raw, msg } of lightningdMessages('rpc-passthrough.jsonl')) {
      assertEverySplit(`${raw}\n\n`, msg);
      assert.deepEqual(oneByteAtATime(`${raw}\n\n`), [msg]);
    }
  });

  test('every message lightningd sent to the recorders, back to back in one chunk', () => {
    const files = [
      'plugin-startup.jsonl',
      'rpc-passthrough.jsonl',
      'notifications.jsonl',
      'htlc-accepted-sendonion.jsonl',
      'htlc-accepted-injectpaymentonion.jsonl',
      'htlc-accepted-xkeysend.jsonl',
      'htlc-accepted-xpay-bolt11.jsonl',
      'htlc-accepted-mpp-sendonion.jsonl',
    ];
    const msgs = files.flatMap((f) => lightningdMessages(f));
    assert.ok(msgs.length > 60);
    const text = msgs.map((m) => `${m.raw}\n\n`).join('');
    const expected = msgs.map((m) => m.msg);
    assert.deepEqual(feed(bytes(text)), expected);
    // and the same stream cut into reads of awkward sizes
    for (const size of [1, 2, 3, 7, 64, 1000, 4096]) {
      const b = bytes(text);
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < b.length; i += size) pieces.push(b.subarray(i, i + size));
      assert.deepEqual(feed(...pieces), expected, `reads of ${size} bytes`);
    }
  });
});

describe('JsonStream: RPC replies as lightningd wrote them', FIX, () => {
  test('every recorded reply, fed in its recorded reads, gives the recorded reply', () => {
    for (const rec of rpcRecords()) {
      assert.deepEqual(feed(...rec.chunks.map(bytes)), [rec.reply], rec.name);
    }
  });

  test('the 80 KB listdatastore reply: nothing after the first 65,536 bytes, all of it after the second read', () => {
    const rec = rpcRecord('listdatastore-large');
    assert.deepEqual(
      rec.chunks.map((c) => bytes(c).length),
      [65536, 14589],
    );
    const [first, second] = rec.chunks.map(bytes) as [Buffer, Buffer];
    // The split is inside the value's hex string: the first read alone is not JSON.
    assert.match(first.subarray(-16).toString(), /^[0-9a-f]{16}$/);
    const s = new JsonStream();
    assert.deepEqual(values(s.push(first)), []);
    const out = values(s.push(second));
    assert.deepEqual(out, [rec.reply]);
    const entry = (out[0] as { result: { datastore: { hex: string }[] } }).result.datastore[0];
    const expectedHex = Buffer.from(Array.from({ length: 40000 }, (_, i) => i % 256)).toString('hex');
    assert.equal(entry?.hex, expectedHex);
  });

  test('the 80 KB reply byte by byte and in reads of 1,000 bytes', () => {
    const rec = rpcRecord('listdatastore-large');
    const text = rec.chunks.join('');
    assert.deepEqual(oneByteAtATime(text), [rec.reply]);
    const b = bytes(text);
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < b.length; i += 1000) pieces.push(b.subarray(i, i + 1000));
    assert.deepEqual(feed(...pieces), [rec.reply]);
  });

  test('every recorded reply coalesced into one chunk, in order', () => {
    const recs = rpcRecords();
    assert.equal(recs.length, 62);
    const text = recs.map((r) => r.chunks.join('')).join('');
    assert.deepEqual(
      feed(bytes(text)),
      recs.map((r) => r.reply),
    );
  });

  test('small recorded replies split at every byte boundary', () => {
    const small = rpcRecords().filter((r) => r.chunks.join('').length <= 800);
    assert.ok(small.length > 25);
    for (const rec of small) assertEverySplit(rec.chunks.join(''), rec.reply);
  });

  test('recorded error messages with escaped quotes', () => {
    for (const name of ['getroute-deprecated', 'bad-params-invalid']) {
      const rec = rpcRecord(name);
      const text = rec.chunks.join('');
      assert.match(text, /\\"/, `${name} holds an escaped quote`);
      assertEverySplit(text, rec.reply);
      assert.deepEqual(oneByteAtATime(text), [rec.reply]);
    }
  });

  test('datastore values holding braces, escaped quotes, backslashes and multi-byte UTF-8', () => {
    // The recorded `datastore-create` reply with its `string` and `hex` values changed to text a
    // JSON-storing plugin (like lnmsg) could keep there; everything else as recorded.
    const rec = rpcRecord('datastore-create');
    const values = [
      '{"htlcs":[{"channel":"103x2x0","id":0}],"note":"}{ \\" }"}',
      '}}}}{{{{',
      '"',
      'ends in a backslash \\',
      '\\"}',
      'é ✓ 𝄞 {"ü":"}"}',
    ];
    const texts = values.map((v) => {
      const reply = structuredClone(rec.reply) as { result: Record<string, unknown> };
      reply.result.string = v;
      reply.result.hex = Buffer.from(v, 'utf8').toString('hex');
      return { text: `${JSON.stringify(reply)}\n\n`, reply };
    });
    for (const { text, reply } of texts) {
      assertEverySplit(text, reply);
      assert.deepEqual(oneByteAtATime(text), [reply]);
    }
    assert.deepEqual(
      feed(bytes(texts.map((t) => t.text).join(''))),
      texts.map((t) => t.reply),
    );
  });
});
