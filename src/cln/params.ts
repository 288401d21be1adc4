import { INVALID_PARAMS, MethodError } from './plugin.js';

type Params = Record<string, unknown>;

function bad(name: string, why: string, got: unknown): never {
  throw new MethodError(INVALID_PARAMS, `${name}: ${why}, got ${JSON.stringify(got)}`);
}

interface WholeOptions {
  min?: number;
  max?: number;
  fallback?: number;
}

function whole(p: Params, name: string, opts: WholeOptions, form: RegExp, what: string): number {
  const v = p[name];
  if (v === undefined || v === null) {
    if (opts.fallback !== undefined) return opts.fallback;
    bad(name, 'is required', v);
  }
  const m = form.exec(String(v));
  const n = m ? Number(m[1]) * (m[2] === 'sat' ? 1000 : 1) : Number.NaN;
  if (!Number.isSafeInteger(n)) bad(name, `must be ${what}`, v);
  if (opts.min !== undefined && n < opts.min) bad(name, `must be at least ${opts.min}`, v);
  if (opts.max !== undefined && n > opts.max) bad(name, `must be at most ${opts.max}`, v);
  return n;
}

/** Lists return at most this many entries a call; `limit` may ask for fewer. */
export const LIST_LIMIT_MAX = 1000;
const LIST_LIMIT_DEFAULT = 100;

/** Checks for what callers (lightning-cli, scripts) send: each error names the parameter. */
export const param = {
  hash(p: Params, name: string): string {
    const v = p[name];
    if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) bad(name, 'must be 64 hex characters', v);
    return v.toLowerCase();
  },

  pubkey(p: Params, name: string): string {
    const v = p[name];
    if (typeof v !== 'string' || !/^0[23][0-9a-fA-F]{64}$/.test(v))
      bad(name, 'must be a 33-byte node id in hex', v);
    return v.toLowerCase();
  },

  /** A whole number of msat; accepts "1000", "1000msat" and "1sat" as lightning-cli users write them. */
  msat(p: Params, name: string, opts: WholeOptions = {}): number {
    return whole(p, name, opts, /^(\d+)(msat|sat)?$/, 'a whole number of msat');
  },

  count(p: Params, name: string, opts: WholeOptions = {}): number {
    return whole(p, name, opts, /^(\d+)$/, 'a whole number');
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
