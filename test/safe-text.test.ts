import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatMessage, type MessageView } from '../src/cli/receive.js';
import { escapeUntrusted } from '../src/cli/safe-text.js';
import { formatSend, type SendOutcome } from '../src/cli/send.js';

const BIDI_AND_SEPARATORS = new Set([
  0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028,
  0x2029,
]);

/** What must never reach a terminal raw: C0, DEL, C1, the bidi controls, U+2028/U+2029. */
function unsafe(s: string): string[] {
  return [...s].filter((c) => {
    const cp = c.codePointAt(0) as number;
    return cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || BIDI_AND_SEPARATORS.has(cp);
  });
}

/** The inverse of the documented notation; throws on anything it does not define. */
function unescape(s: string): string {
  return s.replace(/\\(?:x([0-9a-f]{2})|u\{([0-9a-f]{4})\}|(.))/gsu, (all, x, u, c) => {
    if (x !== undefined) return String.fromCharCode(parseInt(x, 16));
    if (u !== undefined) return String.fromCharCode(parseInt(u, 16));
    const named = ({ '\\': '\\', n: '\n', r: '\r', t: '\t' } as Record<string, string>)[c];
    if (named === undefined) throw new Error(`not an escape: ${all}`);
    return named;
  });
}

const NODE_ID = `02${'ee'.repeat(32)}`;
const FORGED = `sender: ${NODE_ID} (verified)`;

/** [what, sender's text, what is printed] */
const HOSTILE: [string, string, string][] = [
  ['OSC: set the terminal title', '\x1b]0;pwned\x07', '\\x1b]0;pwned\\x07'],
  ['CSI: clear the screen', '\x1b[2J', '\\x1b[2J'],
  ['carriage return overwriting the line', 'pay 1 sat\rpay 9999 sat', 'pay 1 sat\\rpay 9999 sat'],
  ['newline then a forged sender line', `hi\n${FORGED}`, `hi\\n${FORGED}`],
  ['C1 CSI (U+009B)', '\u009b2J', '\\x9b2J'],
  ['C1 NEL (U+0085)', 'a\u0085b', 'a\\x85b'],
  ['DEL', 'a\x7fb', 'a\\x7fb'],
  ['NUL', 'a\0b', 'a\\x00b'],
  ['tab', 'a\tb', 'a\\tb'],
  ['RLO (U+202E)', 'txt.\u202eexe', 'txt.\\u{202e}exe'],
  ['LRI..PDI (U+2066, U+2069)', '\u2066x\u2069', '\\u{2066}x\\u{2069}'],
  ['ALM, LRM, RLM', '\u061c\u200e\u200f', '\\u{061c}\\u{200e}\\u{200f}'],
  ['line separator U+2028', `a\u2028${FORGED}`, `a\\u{2028}${FORGED}`],
  ['paragraph separator U+2029', 'a\u2029b', 'a\\u{2029}b'],
  ['a real newline', 'a\nb', 'a\\nb'],
  ['the text backslash-n', 'a\\nb', 'a\\\\nb'],
  ['the text of an escape', '\\x1b', '\\\\x1b'],
  ['the text of a bidi escape', '\\u{202e}', '\\\\u{202e}'],
  ['a lone backslash', '\\', '\\\\'],
];

describe('escapeUntrusted', () => {
  test('each hostile string is shown visibly, in the documented notation', () => {
    for (const [what, input, printed] of HOSTILE) {
      const out = escapeUntrusted(input);
      assert.equal(out, printed, what);
      assert.deepEqual(unsafe(out), [], what);
      assert.equal(unescape(out), input, what);
    }
  });

  test('different texts never print the same: the text `\\n` is not a newline', () => {
    const printed = HOSTILE.map(([, input]) => escapeUntrusted(input));
    assert.equal(new Set(printed).size, new Set(HOSTILE.map(([, input]) => input)).size);
    assert.notEqual(escapeUntrusted('\\n'), escapeUntrusted('\n'));
    assert.notEqual(escapeUntrusted('\\x1b'), escapeUntrusted('\x1b'));
    assert.notEqual(escapeUntrusted('\\u{202e}'), escapeUntrusted('\u202e'));
  });

  test('ordinary text, accents, scripts written right to left and emoji are left as they are', () => {
    for (const s of [
      'hello, world',
      'héllo ✓ 𝄞',
      'مرحبا بالعالم',
      'שלום',
      '日本語',
      '😀👍🏽🇫🇷',
      '\u00a0nbsp ~',
    ]) {
      assert.equal(escapeUntrusted(s), s);
    }
  });

  test('property: any string prints with no control or bidi character, on one line, and reverses', () => {
    const chars = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      fc.integer({ min: 0, max: 0xa0 }).map((n) => String.fromCharCode(n)),
      fc.constantFrom(
        '\\',
        'n',
        'x',
        'u',
        '{',
        '}',
        ...[...BIDI_AND_SEPARATORS].map((n) => String.fromCharCode(n)),
      ),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: chars })), (s) => {
        const out = escapeUntrusted(s);
        assert.deepEqual(unsafe(out), []);
        assert.ok(!out.includes('\n') && !out.includes('\r'));
        assert.equal(unescape(out), s);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('CLI formatting of what a sender chose', () => {
  const hostile = HOSTILE.map(([, input]) => input).join('');
  const view: MessageView = {
    amount: 1000,
    message: hostile,
    message_hex: Buffer.from(hostile).toString('hex'),
    message_bytes: Buffer.byteLength(hostile),
    is_text: true,
    payment_hash: 'ab'.repeat(32),
    status: 'rejected',
    spontaneous: false,
    received_at: 1_700_000_000,
    created_index: 1,
    sender: NODE_ID,
    verified: false,
    label: `order 7\n${FORGED}`,
    reject_reason: `sold out\r${FORGED}`,
  };

  test('formatMessage: one line per field, label and reason shown escaped, no forged line', () => {
    const lines = formatMessage(view).split('\n');
    assert.deepEqual(lines, [
      'received 1000 msat (rejected)',
      `message: ${escapeUntrusted(hostile)}`,
      `label: order 7\\n${FORGED}`,
      `sender: ${NODE_ID} (NOT verified)`,
      `reason: sold out\\r${FORGED}`,
    ]);
    for (const l of lines) assert.deepEqual(unsafe(l), []);
  });

  test('formatMessage: label and reason lines only when the node gave them', () => {
    const { label: _l, reject_reason: _r, sender: _s, ...plain } = view;
    assert.doesNotMatch(formatMessage(plain), /^(label|reason|sender): /m);
  });

  test('formatSend: what the node answered cannot add lines', () => {
    const r: SendOutcome = {
      status: 'complete',
      payment_hash: 'ab'.repeat(32),
      payment_preimage: `cd\n${FORGED}`,
      amount_msat: 1000,
      amount_sent_msat: 1001,
      fee_msat: 1,
      attempts: 1,
      parts: 1,
      spontaneous: false,
      message_bytes: 2,
      route: [{ short_channel_id_dir: '103x1x0/1\x1b[2J', node_id: NODE_ID }],
    };
    const lines = formatSend(r).split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[1] as string, /^route: 103x1x0\/1\\x1b\[2J \(1 hops/);
    assert.equal(lines[3], `preimage     cd\\n${FORGED}`);
  });
});
