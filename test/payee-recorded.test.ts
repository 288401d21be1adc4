// The payee recordings (test/fixtures/cln-v26.06.6/payee-*, see its README "Payee scenario") and
// what lnmsg's codecs make of the records real lightningd v26.06.6 handed node 3.
import { BLIP10_SAMPLE } from './support/blip10.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  APP_RECORD,
  decodeHopPayload,
  fromHex,
  lnmsgEvenRecords,
  readPaymentRecords,
  RECORD,
  stripLengthPrefix,
  stripRecords,
  type TlvRecord,
  toHex,
} from '../src/index.js';
import { projectRoot } from './support/shared.js';

interface Line {
  kind: string;
  step: string;
  node: number;
  name?: string;
  dir?: string;
  raw?: string;
  reply?: { result?: Record<string, unknown>; error?: { code: number; data?: Record<string, unknown> } };
}
interface HookMessage {
  method: string;
  id?: string;
  params: {
    onion?: { payload: string; type?: string };
    payment?: { label: string; msat: number; extratlvs?: { type: number; length: number; value: string }[] };
  };
}

const DIR = join(projectRoot, 'test', 'fixtures', 'cln-v26.06.6');
const read = (file: string): Line[] =>
  readFileSync(join(DIR, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);

const FILES: Record<string, string[]> = {
  'payee-invoices.jsonl': ['invoice-early', 'invoice', 'delinvoice'],
  'payee-sendonion.jsonl': ['route-layer', 'sendonion-boost', 'wrong-secret'],
  'payee-mpp.jsonl': ['mpp-records'],
  'payee-xkeysend.jsonl': ['xkeysend'],
};
const NETS = ['payee-', 'plain-payee-'];

/** What lightningd sent node 3's recorder in `step`, parsed. */
function toNode3(file: string, step: string, method: string): HookMessage[] {
  return read(file)
    .filter((l) => l.kind === 'plugin' && l.step === step && l.node === 3 && l.dir === 'in')
    .map((l) => JSON.parse(l.raw ?? '') as HookMessage)
    .filter((m) => m.method === method);
}
const hookRequests = (file: string, step: string, method: string) =>
  toNode3(file, step, method).filter((m) => m.id !== undefined);
const rpc = (file: string, name: string) => {
  const l = read(file).find((x) => x.kind === 'rpc' && x.name === name);
  assert.ok(l?.reply, `no rpc ${name} in ${file}`);
  return l.reply;
};

/** The custom records of a final payload as htlc_accepted gives it (`onion.payload`: length || tlv). */
const payloadRecords = (m: HookMessage) =>
  decodeHopPayload(stripLengthPrefix(fromHex(m.params.onion?.payload ?? ''))).customRecords;
/** invoice_payment's `extratlvs` (developer nodes only) as records. */
const extratlvs = (m: HookMessage): TlvRecord[] =>
  (m.params.payment?.extratlvs ?? []).map((r) => ({ type: BigInt(r.type), value: fromHex(r.value) }));

const BOOST = { message: 'hi', action: 'boost', value_msat_total: 5000 };
const TIP = 'lnmsg fixture tip: thanks ☕';

describe('payee recordings: files and steps', () => {
  for (const [file, steps] of Object.entries(FILES)) {
    test(`${file}: every line parses, every documented step is there on both nodes`, () => {
      const lines = read(file);
      for (const l of lines) if (l.raw !== undefined) JSON.parse(l.raw);
      const seen = new Set(lines.map((l) => l.step));
      for (const pre of NETS) for (const s of steps) assert.ok(seen.has(pre + s), `${pre + s} in ${file}`);
    });
  }
});

describe('payee recordings: what lnmsg reads of the records', () => {
  for (const pre of NETS) {
    test(`${pre}sendonion-boost: bLIP-10's sample and a tip note, from htlc_accepted`, () => {
      const [htlc] = hookRequests('payee-sendonion.jsonl', `${pre}sendonion-boost`, 'htlc_accepted');
      assert.ok(htlc);
      const r = readPaymentRecords(payloadRecords(htlc));
      assert.deepEqual(r.boostagram, BLIP10_SAMPLE);
      assert.equal(r.text, undefined);
      assert.equal(r.tipNote, TIP);
      assert.deepEqual(r.problems, []);
      assert.deepEqual(
        r.records.map((x) => x.type),
        ['7629169', '7629171'],
      );
    });

    test(`${pre}xkeysend: the payload before the keysend plugin holds the text, boostagram and tip`, () => {
      const [htlc] = hookRequests('payee-xkeysend.jsonl', `${pre}xkeysend`, 'htlc_accepted');
      assert.ok(htlc);
      const r = readPaymentRecords(payloadRecords(htlc));
      assert.equal(r.text, `lnmsg fixture ${pre}xkeysend: text`);
      assert.deepEqual(r.boostagram, BOOST);
      assert.equal(r.tipNote, TIP);
      assert.deepEqual(r.problems, []);
      // the keysend preimage is a custom record too: kept raw, nothing decoded from it
      assert.ok(r.records.some((x) => x.type === RECORD.keysendPreimage.toString()));
    });

    test(`${pre}wrong-secret: htlc_accepted fires, invoice_payment does not, the payer gets 16399`, () => {
      const step = `${pre}wrong-secret`;
      assert.equal(hookRequests('payee-sendonion.jsonl', step, 'htlc_accepted').length, 1);
      assert.equal(toNode3('payee-sendonion.jsonl', step, 'invoice_payment').length, 0);
      const err = rpc('payee-sendonion.jsonl', `${step}/waitsendpay`).error;
      assert.equal(err?.data?.['failcodename'], 'WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS');
      assert.equal(err?.data?.['erring_index'], 2);
    });
  }

  test('developer node: invoice_payment extratlvs read as the htlc_accepted payload does', () => {
    const step = 'payee-sendonion-boost';
    const [htlc] = hookRequests('payee-sendonion.jsonl', step, 'htlc_accepted');
    const [hook] = hookRequests('payee-sendonion.jsonl', step, 'invoice_payment');
    assert.ok(htlc && hook);
    assert.deepEqual(readPaymentRecords(extratlvs(hook)), readPaymentRecords(payloadRecords(htlc)));
  });

  test('developer node, xkeysend: extratlvs lack the even text (the keysend plugin stripped it)', () => {
    const [hook] = hookRequests('payee-xkeysend.jsonl', 'payee-xkeysend', 'invoice_payment');
    assert.ok(hook);
    const r = readPaymentRecords(extratlvs(hook));
    assert.equal(r.text, 'hi'); // the boostagram's message: the message record is gone
    assert.equal(r.tipNote, TIP);
    assert.deepEqual(
      r.records.map((x) => x.type),
      ['7629169', '7629171'],
    );
  });

  test('MPP: each part carries its own records; invoice_payment extratlvs show the first part only', () => {
    const parts = hookRequests('payee-mpp.jsonl', 'payee-mpp-records', 'htlc_accepted').map((m) =>
      readPaymentRecords(payloadRecords(m)),
    );
    assert.deepEqual(
      parts.map((p) => [p.boostagram, p.tipNote]),
      [
        [BOOST, undefined],
        [undefined, TIP],
      ],
    );
    const [hook] = hookRequests('payee-mpp.jsonl', 'payee-mpp-records', 'invoice_payment');
    assert.ok(hook);
    assert.deepEqual(readPaymentRecords(extratlvs(hook)), parts[0]);
  });

  test('plain node: invoice_payment has no extratlvs (records come from htlc_accepted only)', () => {
    for (const [file, step] of [
      ['payee-sendonion.jsonl', 'plain-payee-sendonion-boost'],
      ['payee-mpp.jsonl', 'plain-payee-mpp-records'],
      ['payee-xkeysend.jsonl', 'plain-payee-xkeysend'],
    ] as const) {
      const [hook] = hookRequests(file, step, 'invoice_payment');
      assert.ok(hook, step);
      assert.equal(hook.params.payment?.extratlvs, undefined, step);
    }
  });

  test('plain node, even record: refused by lightningd; stripped, the payload parses with its payment_data', () => {
    const step = 'plain-payee-sendonion-even-record';
    const [htlc] = hookRequests('payee-sendonion.jsonl', step, 'htlc_accepted');
    assert.ok(htlc);
    assert.equal(htlc.params.onion?.type, undefined); // lightningd did not parse it
    const err = rpc('payee-sendonion.jsonl', 'plain-payee-even/waitsendpay').error;
    assert.equal(err?.data?.['failcodename'], 'WIRE_INVALID_ONION_PAYLOAD');

    const tlv = stripLengthPrefix(fromHex(htlc.params.onion?.payload ?? ''));
    const stripped = stripRecords(tlv, lnmsgEvenRecords(RECORD.message));
    // what lightningd's own check asks: no even type it does not know
    const d = decodeHopPayload(stripped, (t) => t % 2n === 1n);
    const invoice = rpc('payee-sendonion.jsonl', 'plain-payee-even/invoice').result;
    assert.equal(toHex(d.paymentData?.paymentSecret ?? new Uint8Array()), invoice?.['payment_secret']);
    assert.deepEqual(
      d.customRecords.map((r) => r.type),
      [APP_RECORD.boostagram],
    );
    const text = 'lnmsg fixture: even record';
    assert.equal(stripped.length, tlv.length - (5 + 1 + text.length));
    assert.equal(readPaymentRecords(decodeHopPayload(tlv).customRecords).text, text);
  });
});
