/**
 * A clock and `setTimeout` the test moves by hand. Time advances to each timer's due time in
 * turn, and everything that timer set off (promise chains, store writes) runs before the next one
 * fires: a 60 s timer's work is done before a 70 s timer fires, as it would be on a real node.
 */
interface Pending {
  due: number;
  seq: number;
  fn: () => void;
}

const realSetImmediate = setImmediate;

/** Lets every promise chain started so far run to its end (nothing here waits on real I/O). */
export const settle = () => new Promise<void>((resolve) => realSetImmediate(resolve));

export class FakeTime {
  private pending = new Map<number, Pending>();
  private seq = 0;
  private saved?: { set: typeof setTimeout; clear: typeof clearTimeout };

  constructor(public now: number) {}

  /** Takes over the global setTimeout/clearTimeout until `uninstall`. */
  install(): void {
    if (this.saved) return;
    this.saved = { set: globalThis.setTimeout, clear: globalThis.clearTimeout };
    const fake = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const seq = ++this.seq;
      this.pending.set(seq, { due: this.now + Math.max(0, ms ?? 0), seq, fn: () => fn(...args) });
      return handle(seq);
    };
    globalThis.setTimeout = fake as unknown as typeof setTimeout;
    globalThis.clearTimeout = ((h: unknown) => {
      this.pending.delete(Number(h));
    }) as typeof clearTimeout;
  }

  uninstall(): void {
    if (!this.saved) return;
    globalThis.setTimeout = this.saved.set;
    globalThis.clearTimeout = this.saved.clear;
    this.saved = undefined;
    this.pending.clear();
  }

  /** Moves time on by `ms`, firing due timers one at a time with everything they start settled. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      const next = this.nextDue();
      if (!next || next.due > end) break;
      this.pending.delete(next.seq);
      this.now = Math.max(this.now, next.due);
      next.fn();
      await settle();
    }
    this.now = end;
  }

  private nextDue(): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.pending.values()) {
      if (!best || p.due < best.due || (p.due === best.due && p.seq < best.seq)) best = p;
    }
    return best;
  }
}

/** What node's setTimeout returns, as far as callers use it. */
function handle(seq: number) {
  const h = {
    ref: () => h,
    unref: () => h,
    hasRef: () => false,
    refresh: () => h,
    [Symbol.toPrimitive]: () => seq,
  };
  return h;
}
