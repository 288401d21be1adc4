import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, utf8 } from '../wire/bytes.js';
import { INVALID_PARAMS, MethodError } from './plugin.js';

/*
 * One set of checks for what people and scripts give lnmsg: the CLI's flags and prompts and the
 * plugin's RPC parameters. Each `…Problem` returns what is wrong with a value (a phrase the caller
 * puts after the name it knows: `--destination` or `destination`), or undefined when it is fine.
 */

export interface Range {
  min?: number;
  max?: number;
}

/**
 * Node ids found on the curve: decompressing a point takes a fraction of a millisecond, once per
 * destination rather than once per message. Bounded: emptied when full.
 */
const onCurve = new Set<string>();
const ON_CURVE_KEPT = 1024;

/** A node id: a compressed secp256k1 point, so a typo fails here rather than in routing. */
export function nodeIdProblem(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^0[23][0-9a-fA-F]{64}$/.test(v))
    return 'must be a node id (66 hex characters starting 02 or 03)';
  const id = v.toLowerCase();
  if (onCurve.has(id)) return undefined;
  try {
    secp256k1.Point.fromHex(id);
  } catch {
    return 'is not a node id: not a point on the secp256k1 curve';
  }
  if (onCurve.size >= ON_CURVE_KEPT) onCurve.clear();
  onCurve.add(id);
  return undefined;
}

export function paymentHashProblem(v: unknown): string | undefined {
  return typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v)
    ? undefined
    : 'must be a payment hash (64 hex characters)';
}

/** Only its form: lightningd's `decode` reads the rest (src/send/invoice.ts). */
export function invoiceProblem(v: unknown): string | undefined {
  return typeof v === 'string' && /^ln[0-9a-z]+$/i.test(v)
    ? undefined
    : 'must be a BOLT 11 invoice (ln followed by letters and digits)';
}

export function hexProblem(v: unknown): string | undefined {
  return typeof v === 'string' && /^(?:[0-9a-fA-F]{2})*$/.test(v)
    ? undefined
    : 'must be an even number of hex digits';
}

/** Refused everywhere: a payment with an empty message record carries nothing to read. */
export function messageProblem(bytes: Uint8Array): string | undefined {
  return bytes.length === 0 ? 'the message is empty' : undefined;
}

/** A kind of whole number: how it is written, and what to call it when it is not. */
interface Whole {
  form: RegExp;
  what: string;
}

/** msat as lightning-cli users write them: 1000, "1000", "1000msat" or "1sat". */
const MSAT: Whole = { form: /^(\d+)(msat|sat)?$/, what: 'a whole number of msat' };
const COUNT: Whole = { form: /^(\d+)$/, what: 'a whole number' };

function wholeValue(kind: Whole, v: unknown): number | undefined {
  const m = kind.form.exec(String(v));
  const n = m ? Number(m[1]) * (m[2] === 'sat' ? 1000 : 1) : Number.NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

function wholeProblem(kind: Whole, v: unknown, range: Range): string | undefined {
  const n = wholeValue(kind, v);
  if (n === undefined) return `must be ${kind.what}`;
  if (range.min !== undefined && n < range.min) return `must be at least ${range.min}`;
  if (range.max !== undefined && n > range.max) return `must be at most ${range.max}`;
  return undefined;
}

export const msatValue = (v: unknown) => wholeValue(MSAT, v);
export const msatProblem = (v: unknown, range: Range = {}) => wholeProblem(MSAT, v, range);
export const countValue = (v: unknown) => wholeValue(COUNT, v);
export const countProblem = (v: unknown, range: Range = {}) => wholeProblem(COUNT, v, range);

type Params = Record<string, unknown>;

function bad(name: string, why: string, got: unknown): never {
  throw new MethodError(INVALID_PARAMS, `${name}: ${why}, got ${JSON.stringify(got)}`);
}

function checked(name: string, v: unknown, problem: string | undefined): void {
  if (problem) bad(name, problem, v);
}

interface WholeOptions extends Range {
  fallback?: number;
}

function whole(p: Params, name: string, opts: WholeOptions, kind: Whole): number {
  const v = p[name];
  if (v === undefined || v === null) {
    if (opts.fallback !== undefined) return opts.fallback;
    bad(name, 'is required', v);
  }
  checked(name, v, wholeProblem(kind, v, opts));
  return wholeValue(kind, v) as number;
}

/** Lists return at most this many entries a call; `limit` may ask for fewer. */
export const LIST_LIMIT_MAX = 1000;
const LIST_LIMIT_DEFAULT = 100;

/** Checks for what callers (lightning-cli, scripts) send: each error names the parameter. */
export const param = {
  hash(p: Params, name: string): string {
    checked(name, p[name], paymentHashProblem(p[name]));
    return (p[name] as string).toLowerCase();
  },

  invoice(p: Params, name: string): string {
    checked(name, p[name], invoiceProblem(p[name]));
    return p[name] as string;
  },

  pubkey(p: Params, name: string): string {
    checked(name, p[name], nodeIdProblem(p[name]));
    return (p[name] as string).toLowerCase();
  },

  /** A whole number of msat; accepts "1000", "1000msat" and "1sat" as lightning-cli users write them. */
  msat(p: Params, name: string, opts: WholeOptions = {}): number {
    return whole(p, name, opts, MSAT);
  },

  count(p: Params, name: string, opts: WholeOptions = {}): number {
    return whole(p, name, opts, COUNT);
  },

  /** The message to send: `message_hex` (any bytes) or `message` (text), not empty. */
  message(p: Params): Uint8Array {
    if (typeof p.message_hex === 'string') {
      checked('message_hex', p.message_hex, hexProblem(p.message_hex));
      const bytes = fromHex(p.message_hex);
      checked('message_hex', p.message_hex, messageProblem(bytes));
      return bytes;
    }
    if (typeof p.message !== 'string') bad('message', 'must be a string (or give message_hex)', p.message);
    const bytes = utf8.encode(p.message);
    checked('message', p.message, messageProblem(bytes));
    return bytes;
  },

  seconds(p: Params, name: string, fallback: number): number {
    const v = p[name] ?? fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) bad(name, 'must be a number of seconds >= 0', v);
    return n;
  },

  oneOf<T extends string>(p: Params, name: string, values: readonly T[], fallback: T): T {
    const v = p[name];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string' || !values.includes(v as T))
      bad(name, `must be one of ${values.join(', ')}`, v);
    return v as T;
  },

  optionalString(p: Params, name: string): string | undefined {
    const v = p[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') bad(name, 'must be a string', v);
    return v;
  },

  /** A list's page as lightningd's lists take it: `index` created (default) or updated, from `start`, at most `limit`. */
  page(p: Params) {
    return {
      index: param.oneOf(p, 'index', ['created', 'updated'] as const, 'created'),
      start: param.count(p, 'start', { fallback: 0 }),
      limit: param.count(p, 'limit', { min: 1, max: LIST_LIMIT_MAX, fallback: LIST_LIMIT_DEFAULT }),
    };
  },

  bool(p: Params, name: string): boolean {
    const v = p[name];
    if (v === undefined || v === null) return false;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    bad(name, 'must be true or false', v);
  },
};
