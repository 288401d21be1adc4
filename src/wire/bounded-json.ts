import { utf8 } from './bytes.js';

/** What JSON holds: plain data, nothing with behaviour. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Larger JSON is not parsed (a payment's records are far smaller; lightningd's extratlvs too). */
export const JSON_MAX_BYTES = 65536;
/** Deeper nesting is refused before parsing, so neither the parser nor a reader of the result recurses far. */
export const JSON_MAX_DEPTH = 16;
/** Keys that change an object's prototype or shadow its machinery when the data is copied or merged. */
const REFUSED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export type JsonResult = { ok: true; value: JsonValue } | { ok: false; why: string };

/** Parses untrusted UTF-8 JSON within the limits above; says why not rather than throwing. */
export function parseBoundedJson(bytes: Uint8Array): JsonResult {
  if (bytes.length > JSON_MAX_BYTES) return refuse(`${bytes.length} bytes, more than ${JSON_MAX_BYTES}`);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return refuse('not valid UTF-8');
  }
  if (nestingDepth(text) > JSON_MAX_DEPTH) return refuse(`nested deeper than ${JSON_MAX_DEPTH}`);
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch {
    return refuse('not valid JSON');
  }
  const key = refusedKey(value);
  if (key !== undefined) return refuse(`key ${JSON.stringify(key)} refused`);
  return { ok: true, value };
}

function refuse(why: string): JsonResult {
  return { ok: false, why };
}

/** Deepest nesting of [ and { outside strings (exact for valid JSON, a bound for the rest). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

/** The first refused key anywhere in the value (recursion bounded by JSON_MAX_DEPTH). */
function refusedKey(value: JsonValue): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (const v of value) {
      const k = refusedKey(v);
      if (k !== undefined) return k;
    }
    return undefined;
  }
  for (const [key, v] of Object.entries(value)) {
    if (REFUSED_KEYS.has(key)) return key;
    const k = refusedKey(v);
    if (k !== undefined) return k;
  }
  return undefined;
}
