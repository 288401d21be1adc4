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

/** Cuts `b` into reads of `size` bytes. */
function reads(b: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

describe('JsonStream: a cap on the bytes of one message', FIX, () => {
  test('the recorded 80 KB reply over a 10,000-byte cap, in 1,000-byte reads: skipped in bounded memory, the next reply parses', () => {
    const large = rpcRecord('listdatastore-large');
    const next = rpcRecord('getinfo-n3');
    const text = bytes(large.chunks.join('') + next.chunks.join(''));
    const s = new JsonStream({ maxBytes: 10_000 });
    const results: Parsed[] = [];
    let read = 0;
    for (const piece of reads(text, 1000)) {
      results.push(...s.push(piece));
      read += piece.length;
      assert.ok(s.bufferedBytes <= 10_000, `${s.bufferedBytes} bytes held after ${read}`);
      // Once over the cap only the start is kept, to read the id from.
      if (read > 11_000 && results.length === 0) assert.ok(s.bufferedBytes <= 512, `${s.bufferedBytes}`);
    }
    assert.deepEqual(results, [
      {
        ok: false,
        error: 'message of more than 10000 bytes',
        oversized: true,
        idHint: 'rec:listdatastore-large',
      },
      { ok: true, value: next.reply },
    ]);
    assert.equal(s.bufferedBytes, 0);
  });

  test('a message of exactly the cap parses; one byte more is skipped, in one read or byte by byte', () => {
    const rec = rpcRecord('getinfo-n3');
    const text = rec.chunks.join('');
    const size = bytes(text.trimEnd()).length;
    for (const pieces of [[bytes(text)], reads(bytes(text), 1)]) {
      const exact = new JsonStream({ maxBytes: size });
      assert.deepEqual(
        pieces.flatMap((p) => exact.push(p)),
        [{ ok: true, value: rec.reply }],
      );
      const under = new JsonStream({ maxBytes: size - 1 });
      assert.deepEqual(
        pieces.flatMap((p) => under.push(p)),
        [
          {
            ok: false,
            error: `message of more than ${size - 1} bytes`,
            oversized: true,
            idHint: 'rec:getinfo-n3',
          },
        ],
      );
    }
  });

  test('a skipped message still ends at its own closing brace: braces and quotes in its strings', () => {
    // The recorded `datastore-create` reply with values full of braces and escaped quotes, as in
    // the test above; with a 128-byte cap each is skipped, and the short recorded reply after it parses.
    const rec = rpcRecord('datastore-create');
    const after = rpcRecord('datastore-create-again');
    for (const v of ['}}}}{{{{', '"}', 'ends in a backslash \\', '\\"}', '{"ü":"}"} é ✓ 𝄞']) {
      const reply = structuredClone(rec.reply) as { result: Record<string, unknown> };
      reply.result.string = v;
      reply.result.hex = Buffer.from(v, 'utf8').toString('hex');
      const text = bytes(`${JSON.stringify(reply)}\n\n${after.chunks.join('')}`);
      for (const size of [1, 7, text.length]) {
        const s = new JsonStream({ maxBytes: 128 });
        const out = reads(text, size).flatMap((p) => s.push(p));
        assert.equal(out.length, 2, `${JSON.stringify(v)} in reads of ${size}`);
        assert.deepEqual(out[0], {
          ok: false,
          error: 'message of more than 128 bytes',
          oversized: true,
          idHint: 'rec:datastore-create',
        });
        assert.deepEqual(out[1], { ok: true, value: after.reply });
      }
    }
  });

  test("the id of a skipped message: lightningd's and lightning-cli's spacing and order, never a nested id", () => {
    const cases: [string, string | undefined][] = [
      ...lightningdMessages('rpc-passthrough.jsonl').map(
        ({ raw, msg }) => [raw, msg.id] as [string, string | undefined],
      ),
      ...lightningdMessages('htlc-accepted-sendonion.jsonl').map(
        ({ raw, msg }) => [raw, msg.id] as [string, string | undefined],
      ),
    ];
    // A recorded notification: no id of its own, but its params name a peer by "id".
    const connect = lightningdMessages('notifications.jsonl').find((m) => m.msg.method === 'connect');
    assert.ok(connect && /"id"/.test(connect.raw));
    cases.push([connect.raw, undefined]);
    assert.ok(
      cases.some(([raw]) => raw.startsWith('{ "jsonrpc" : "2.0", "method"')),
      'lightning-cli order',
    );
    for (const [raw, id] of cases) {
      const [out] = new JsonStream({ maxBytes: 40 }).push(bytes(`${raw}\n\n`));
      assert.ok(out && !out.ok && out.oversized, raw.slice(0, 80));
      assert.equal(out.idHint, id, raw.slice(0, 80));
    }
  });

  test('a message that is not JSON is reported with its id when its start shows one', () => {
    // Deliberately broken copies of a recorded reply: the colon after "result" gone (id readable),
    // or the one after "id" (no id to read).
    const text = rpcRecord('getinfo-n3').chunks.join('');
    const noColon = text.replace('"result":', '"result"');
    const noId = text.replace('"id":', '"id"');
    const [a, b] = new JsonStream().push(bytes(noColon + noId));
    assert.ok(a && !a.ok && b && !b.ok);
    assert.equal(a.idHint, 'rec:getinfo-n3');
    assert.equal(a.oversized, undefined);
    assert.equal(b.idHint, undefined);
  });
});
