const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** One message: its value, or why not (`oversized`: over `maxBytes`) and its JSON-RPC id if its start shows it. */
export type Parsed =
  { ok: true; value: unknown } | { ok: false; error: string; oversized?: true; idHint?: string };

export interface JsonStreamOptions {
  /** A message larger than this is skipped, not kept, and reported `oversized`. */
  maxBytes?: number;
}

/** How much of a skipped message is kept to find its id in: the id comes first. */
const HINT_BYTES = 512;

/**
 * The id, when the message starts with it or with scalar members before it: lightningd writes
 * `{"jsonrpc":"2.0","id":"…",` and lightning-cli `{ "jsonrpc" : "2.0", "method" : "…", "id" : "…",`.
 * Only string ids are read: lightningd sends those to a plugin with `nonnumericids`, and
 * LightningRpc uses them. Anchored at the start, so a nested "id" is never taken for it.
 */
const ID_AT_START =
  /^\{\s*(?:"(?:[^"\\]|\\.)*"\s*:\s*(?:"(?:[^"\\]|\\.)*"|[-+.\deE]+|true|false|null)\s*,\s*)*?"id"\s*:\s*("(?:[^"\\]|\\.)*")/;

function idHint(start: string): { idHint?: string } {
  const quoted = ID_AT_START.exec(start)?.[1];
  if (quoted === undefined) return {};
  try {
    return { idHint: JSON.parse(quoted) as string };
  } catch {
    return {};
  }
}

/**
 * Splits a byte stream into top-level JSON objects, whatever the read boundaries: lightningd
 * may put several messages in one read or spread one reply over many. Bytes between objects
 * (the "\n\n" separators) are skipped. Multi-byte UTF-8 never contains these ASCII bytes, so
 * scanning bytes is safe. A message over `maxBytes` is still scanned to its end (so the next
 * one is found) but only its first bytes are kept, to read its id from.
 */
export class JsonStream {
  private pending: Uint8Array[] = [];
  /** Bytes of the unfinished message so far, kept or not. */
  private size = 0;
  /** Set once the unfinished message is over the cap: its start, and nothing more is kept. */
  private skipped?: Uint8Array;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private readonly decoder = new TextDecoder();
  private readonly maxBytes: number;

  constructor(options: JsonStreamOptions = {}) {
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  }

  /** Bytes held for the unfinished message: at most `maxBytes`, or a few hundred once it is skipped. */
  get bufferedBytes(): number {
    return this.skipped?.length ?? this.pending.reduce((n, p) => n + p.length, 0);
  }

  push(chunk: Uint8Array): Parsed[] {
    const out: Parsed[] = [];
    let start = this.depth > 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (this.depth === 0) {
        if (b === OPEN) {
          start = i;
          this.depth = 1;
        }
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
      } else if (b === QUOTE) this.inString = true;
      else if (b === OPEN) this.depth++;
      else if (b === CLOSE && --this.depth === 0) {
        out.push(this.finish(chunk.subarray(start, i + 1)));
        start = -1;
      }
    }
    if (start >= 0) this.keep(chunk.subarray(start));
    return out;
  }

  /** Keeps the unfinished message's bytes until it goes over the cap, then only its start. */
  private keep(bytes: Uint8Array): void {
    this.size += bytes.length;
    if (this.skipped) return;
    if (this.size > this.maxBytes) {
      this.skipped = Buffer.concat([...this.pending, bytes], Math.min(HINT_BYTES, this.size));
      this.pending = [];
    } else this.pending.push(bytes.slice());
  }

  private finish(last: Uint8Array): Parsed {
    const parts = [...this.pending, last];
    const size = this.size + last.length;
    const skipped = this.skipped;
    this.pending = [];
    this.size = 0;
    this.skipped = undefined;
    if (skipped || size > this.maxBytes) {
      const start = skipped ?? Buffer.concat(parts, Math.min(HINT_BYTES, size));
      return {
        ok: false,
        error: `message of more than ${this.maxBytes} bytes`,
        oversized: true,
        ...idHint(this.decoder.decode(start)),
      };
    }
    const bytes = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
    const text = this.decoder.decode(bytes);
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      return {
        ok: false,
        error: `${(e as Error).message} in ${text.slice(0, 80)}`,
        ...idHint(text.slice(0, HINT_BYTES)),
      };
    }
  }
}
