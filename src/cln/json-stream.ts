const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Splits a byte stream into top-level JSON objects, whatever the read boundaries: lightningd
 * may put several messages in one read or spread one reply over many. Bytes between objects
 * (the "\n\n" separators) are skipped. Multi-byte UTF-8 never contains these ASCII bytes, so
 * scanning bytes is safe.
 */
export class JsonStream {
  private pending: Uint8Array[] = [];
  private depth = 0;
  private inString = false;
  private escaped = false;
  private readonly decoder = new TextDecoder();

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
        this.pending.push(chunk.subarray(start, i + 1));
        out.push(this.parse());
        start = -1;
      }
    }
    if (start >= 0) this.pending.push(chunk.slice(start));
    return out;
  }

  private parse(): Parsed {
    const parts = this.pending;
    this.pending = [];
    const bytes = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
    const text = this.decoder.decode(bytes);
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      return { ok: false, error: `${(e as Error).message} in ${text.slice(0, 80)}` };
    }
  }
}
