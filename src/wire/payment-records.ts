import { type JsonObject, parseBoundedJson } from './bounded-json.js';
import { toHex, utf8 } from './bytes.js';
import { CUSTOM_RECORD_MIN } from './hop-payload.js';
import { decodeTimestamp, RECORD } from './message-records.js';
import type { TlvRecord } from './tlv.js';

/** Records other applications put in payments, which a payee shows. */
export const APP_RECORD = {
  /** bLIP-10 (Podcasting 2.0): a flat JSON object; its `message` is a boostagram's text. */
  boostagram: 7629169n,
  /** A tip's note, UTF-8 text. */
  tipNote: 7629171n,
} as const;

/** One record as the payee keeps it: type in decimal (u64 does not fit a JSON number), value in hex. */
export interface RawRecord {
  type: string;
  value: string;
}

/** A record that claims a known kind but does not decode as one. */
export interface RecordProblem {
  type: string;
  why: string;
}

/** What a payee keeps and shows of a payment's custom records. Plain JSON data. */
export interface PaymentRecords {
  /** Every record given, in the order given, whatever it holds. */
  records: RawRecord[];
  /** The message record's text, else a boostagram's `message`. */
  text?: string;
  /** Sender's node id (hex), as the sender claims it: no signature is checked here. */
  sender?: string;
  senderName?: string;
  /** Nanoseconds since 1970, decimal. */
  timestampNs?: string;
  /** Hex, unverified. */
  signature?: string;
  contentType?: string;
  /** Every field of a bLIP-10 record, as sent. */
  boostagram?: JsonObject;
  tipNote?: string;
  /** Records that did not decode as what their type says, each still in `records`; empty when none. */
  problems: RecordProblem[];
}

type Fields = Omit<PaymentRecords, 'records' | 'problems'>;
/** Fields a record gives, or why it gives none; `also` is a problem that does not stop the fields. */
type Decoded = { fields: Fields; also?: string } | { why: string };
type Decoder = (value: Uint8Array) => Decoded;

/**
 * Reads a received payment's custom records (type >= 65536, as `decodeHopPayload` gives them or
 * lightningd's `extratlvs`). `messageType` is the node's `lnmsg-tlv-type`. Never throws for what
 * the records hold: a record that does not decode is kept raw and listed in `problems`.
 */
export function readPaymentRecords(
  records: readonly TlvRecord[],
  messageType: bigint = RECORD.message,
): PaymentRecords {
  if (!Array.isArray(records)) throw new TypeError('records must be an array');
  const decoders = decodersFor(messageType);
  const out: PaymentRecords = { records: [], problems: [] };
  const seen = new Set<bigint>();
  let boostText: string | undefined;
  for (const rec of records) {
    if (typeof rec?.type !== 'bigint' || rec.type < 0n || !(rec.value instanceof Uint8Array)) {
      throw new TypeError('each record must be { type: bigint >= 0, value: Uint8Array }');
    }
    const type = rec.type.toString();
    out.records.push({ type, value: toHex(rec.value) });
    if (rec.type < CUSTOM_RECORD_MIN) {
      out.problems.push({ type, why: `below ${CUSTOM_RECORD_MIN}: not a custom record` });
      continue;
    }
    const decode = decoders.get(rec.type);
    if (!decode) continue;
    if (seen.has(rec.type)) {
      out.problems.push({ type, why: 'appears again: the first one is read' });
      continue;
    }
    seen.add(rec.type);
    const d = decode(rec.value);
    if ('why' in d) {
      out.problems.push({ type, why: d.why });
      continue;
    }
    if (d.also) out.problems.push({ type, why: d.also });
    const { text, ...fields } = d.fields;
    if (rec.type === APP_RECORD.boostagram) boostText = text;
    else if (text !== undefined) out.text = text;
    Object.assign(out, fields);
  }
  if (out.text === undefined && boostText !== undefined) out.text = boostText;
  return out;
}

function decodersFor(messageType: bigint): Map<bigint, Decoder> {
  const fixed: [bigint, Decoder][] = [
    [RECORD.sender, bytes(33, 'sender', (v) => v[0] === 2 || v[0] === 3 || 'is not a compressed public key')],
    [RECORD.signature, bytes(64, 'signature')],
    [RECORD.timestamp, (v) => fieldsOf(() => ({ timestampNs: decodeTimestamp(v).toString() }))],
    [RECORD.senderName, text('senderName')],
    [RECORD.contentType, text('contentType')],
    [APP_RECORD.boostagram, boostagram],
    [APP_RECORD.tipNote, text('tipNote')],
  ];
  if (typeof messageType !== 'bigint' || messageType < CUSTOM_RECORD_MIN) {
    throw new RangeError(`message record type must be a bigint >= ${CUSTOM_RECORD_MIN}`);
  }
  if (fixed.some(([t]) => t === messageType)) {
    throw new RangeError(`message record type ${messageType} is another known record's`);
  }
  return new Map([...fixed, [messageType, text('text')]]);
}

function fieldsOf(read: () => Fields): Decoded {
  try {
    return { fields: read() };
  } catch (e) {
    return { why: e instanceof Error ? e.message : String(e) };
  }
}

function text(field: 'text' | 'senderName' | 'contentType' | 'tipNote'): Decoder {
  return (v) => {
    try {
      return { fields: { [field]: utf8.decode(v) } };
    } catch {
      return { why: 'not valid UTF-8 text' };
    }
  };
}

function bytes(
  length: number,
  field: 'sender' | 'signature',
  check: (v: Uint8Array) => true | string = () => true,
): Decoder {
  return (v) => {
    if (v.length !== length) return { why: `${v.length} bytes, needs ${length}` };
    const ok = check(v);
    return ok === true ? { fields: { [field]: toHex(v) } } : { why: ok };
  };
}

function boostagram(v: Uint8Array): Decoded {
  const json = parseBoundedJson(v);
  if (!json.ok) return { why: json.why };
  const value = json.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { why: 'JSON is not an object' };
  }
  const message = value['message'];
  if (message === undefined || typeof message === 'string') {
    return { fields: { boostagram: value, ...(message === undefined ? {} : { text: message }) } };
  }
  return { fields: { boostagram: value }, also: '"message" is not a string' };
}
