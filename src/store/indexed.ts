import type { Kv } from './kv.js';

export type ListIndex = 'created' | 'updated';

/** A record kept by payment hash, with lightningd-style indexes: the order of storing, and of the last change. */
export interface IndexedRecord {
  paymentHash: string;
  createdIndex: number;
  updatedIndex?: number;
}

export type Unindexed<T extends IndexedRecord> = Omit<T, 'createdIndex' | 'updatedIndex'>;

export interface IndexedKeys {
  /** The records, one key per payment hash below it. */
  records: string[];
  created: string[];
  updated: string[];
  /** One entry: the highest indexes reserved, and the owner's own counts. */
  counters: string[];
}

/** Index entries per datastore key: listing one bucket is one bounded reply, whatever the store holds. */
const BUCKET = 256;
/** Indexes are reserved in blocks, so most records cost no counter write. */
const RESERVE = 64;

export const pad = (n: number, width: number) => String(n).padStart(width, '0');
const indexKey = (base: string[], i: number) => [...base, pad(Math.floor(i / BUCKET), 10), pad(i, 14)];

/**
 * JSON records by payment hash in a Kv with the datastore's semantics, listed in pages by created
 * or updated index. Nothing is loaded but the counters entry, and every read is one bounded reply:
 * a record by its hash, an index bucket of 256 entries. `C` are counts the owner keeps in the same
 * counters entry.
 */
export class IndexedRecords<
  T extends IndexedRecord,
  C extends Record<string, number> = Record<never, number>,
> {
  /** Highest index reserved (persisted before any is used, so none is handed out twice). */
  private reserved = { created: 0, updated: 0 };
  private last = { created: 0, updated: 0 };
  private writing: Promise<void> = Promise.resolve();
  private reserving: Promise<void> = Promise.resolve();

  constructor(
    private readonly kv: Kv,
    private readonly keys: IndexedKeys,
    /** The owner's counts, written with the indexes by `persist`. */
    readonly counts: C,
  ) {}

  /** Reads the counters; false when there are none yet (a new store). */
  async open(): Promise<boolean> {
    const e = await this.kv.get(this.keys.counters);
    if (e) {
      const { created, updated, ...counts } = JSON.parse(e.value) as C & typeof this.reserved;
      this.reserved = { created, updated };
      Object.assign(this.counts, counts);
    }
    this.last = { ...this.reserved };
    return e !== undefined;
  }

  async get(paymentHash: string): Promise<T | undefined> {
    const e = await this.kv.get([...this.keys.records, paymentHash]);
    return e ? (JSON.parse(e.value) as T) : undefined;
  }

  /**
   * Stores a new record (with the created index given, if one was taken from `nextIndex` for it);
   * undefined if one is already stored for its hash. The record, its index
   * entry and what `alongside` writes go in one round of writes; an index entry without its
   * record is skipped by lists, and `reindex` writes it again.
   */
  async add(
    r: Unindexed<T> & { createdIndex?: number },
    alongside?: (t: T) => Promise<unknown>,
  ): Promise<T | undefined> {
    const t = { ...r, createdIndex: r.createdIndex ?? (await this.nextIndex('created')) } as T;
    const [created] = await Promise.all([
      this.kv.create([...this.keys.records, t.paymentHash], JSON.stringify(t)),
      this.reindex(t),
      alongside?.(t),
    ]);
    if (created) return t;
    await this.kv.delete(indexKey(this.keys.created, t.createdIndex));
    return undefined;
  }

  /** As `add`, for a record stored already changed (as `update` would leave it): it gets an updated index too. */
  async addChanged(
    r: Unindexed<T> & { createdIndex?: number },
    alongside?: (t: T) => Promise<unknown>,
  ): Promise<T | undefined> {
    const updatedIndex = await this.nextIndex('updated');
    const key = indexKey(this.keys.updated, updatedIndex);
    const t = await this.add({ ...r, updatedIndex }, (t) =>
      Promise.all([this.kv.put(key, t.paymentHash), alongside?.(t)]),
    );
    if (!t) await this.kv.delete(key);
    return t;
  }

  /** Writes a stored record's created index entry (again), and its updated one with `updated`. */
  async reindex(t: T, updated = false): Promise<void> {
    await Promise.all([
      this.kv.put(indexKey(this.keys.created, t.createdIndex), t.paymentHash),
      updated && t.updatedIndex !== undefined
        ? this.kv.put(indexKey(this.keys.updated, t.updatedIndex), t.paymentHash)
        : undefined,
    ]);
  }

  /**
   * Read-modify-write with the datastore's generation check; each change gets a new updated index.
   * Returns the record before and after, or undefined when there is none or `change` leaves it
   * as it is (by returning undefined).
   */
  async update(
    paymentHash: string,
    change: (t: T) => Unindexed<T> | undefined,
  ): Promise<{ before: T; after: T } | undefined> {
    const updatedIndex = await this.nextIndex('updated');
    await this.kv.put(indexKey(this.keys.updated, updatedIndex), paymentHash);
    for (;;) {
      const e = await this.kv.get([...this.keys.records, paymentHash]);
      const before = e ? (JSON.parse(e.value) as T) : undefined;
      const changed = before && change(before);
      if (!e || !before || !changed) {
        await this.kv.delete(indexKey(this.keys.updated, updatedIndex));
        return undefined;
      }
      const after = { ...changed, createdIndex: before.createdIndex, updatedIndex } as T;
      if (await this.kv.replace(e.key, JSON.stringify(after), e.generation)) {
        if (before.updatedIndex !== undefined)
          await this.kv.delete(indexKey(this.keys.updated, before.updatedIndex));
        return { before, after };
      }
    }
  }

  /** Removes a record and its index entries, with what `alongside` removes in the same round. */
  async remove(paymentHash: string, alongside?: (t: T) => Promise<unknown>): Promise<T | undefined> {
    const t = await this.get(paymentHash);
    if (!t) return undefined;
    await this.kv.delete([...this.keys.records, paymentHash]);
    await Promise.all([
      this.kv.delete(indexKey(this.keys.created, t.createdIndex)),
      t.updatedIndex === undefined ? undefined : this.kv.delete(indexKey(this.keys.updated, t.updatedIndex)),
      alongside?.(t),
    ]);
    return t;
  }

  /**
   * Up to `limit` records with `index` >= `start`, in that index's order. Reads index buckets
   * from `start` on (each one bounded reply), then each record by its hash.
   */
  async list(index: ListIndex, start: number, limit: number): Promise<T[]> {
    const base = this.keys[index];
    const out: T[] = [];
    const highest = this.last[index];
    for (let b = Math.floor(start / BUCKET); out.length < limit && b <= Math.floor(highest / BUCKET); b++) {
      const entries = (await this.kv.list([...base, pad(b, 10)]))
        .map((e) => ({ i: Number(e.key.at(-1)), hash: e.value }))
        .filter((e) => e.i >= start)
        .sort((x, y) => x.i - y.i)
        .slice(0, limit - out.length);
      const found = await Promise.all(entries.map((e) => this.get(e.hash)));
      for (const [k, t] of found.entries()) {
        const i = (entries[k] as { i: number }).i;
        // An index entry whose record is gone or moved on (a crash between writes) is skipped.
        if (t && (index === 'created' ? t.createdIndex : t.updatedIndex) === i) out.push(t);
      }
    }
    return out;
  }

  async nextIndex(kind: ListIndex): Promise<number> {
    const i = ++this.last[kind];
    if (i > this.reserved[kind]) {
      this.reserved[kind] = i + RESERVE - 1;
      this.reserving = this.persist();
    }
    // Every caller waits for the write that covers its index (it may be another caller's).
    await this.reserving;
    return i;
  }

  /** Writes the counters; writes are chained, each one the newest values. */
  persist(): Promise<void> {
    const next = this.writing.then(() =>
      this.kv.put(this.keys.counters, JSON.stringify({ ...this.counts, ...this.reserved })),
    );
    this.writing = next.catch(() => {});
    return next;
  }
}
