import type { Kv } from './kv.js';

/** A payment hash the payee handed out, waiting for its message. */
export interface Invoice {
  paymentHash: string;
  preimage: string;
  /** The least the payee accepts; 0 for any amount. */
  amountMsat: number;
  label?: string;
  createdAt: number;
  hold: boolean;
  /** Unix time after which a payment is refused (absent on hashes made before expiry existed). */
  expiresAt?: number;
}

export interface HtlcRef {
  /** Incoming channel and HTLC id: how lightningd names an HTLC when it replays it. */
  channel: string;
  id: number;
  amountMsat: number;
}

export type MessageStatus = 'settled' | 'held' | 'rejected';

/** A message that arrived. Stored before its payment is settled. */
export interface ReceivedMessage {
  paymentHash: string;
  messageHex: string;
  tlvType: number;
  amountMsat: number;
  receivedAt: number;
  htlcs: HtlcRef[];
  status: MessageStatus;
  spontaneous: boolean;
  label?: string;
  sender?: string;
  verified?: boolean;
  /** Why a signature did not verify. */
  verifyProblem?: string;
  /** The signature covers the payment hash (lnmsg's form), not only the message. */
  signedPayment?: boolean;
  /** The sender's timestamp, unix seconds. */
  sentAt?: number;
  rejectReason?: string;
  /** For a held message: who decides, and by when (unix seconds). */
  decideBy?: 'operator' | 'decider';
  deadline?: number;
  /** As lightningd's lists: the order messages were stored, and of their last change. */
  createdIndex: number;
  updatedIndex?: number;
}

export type NewMessage = Omit<ReceivedMessage, 'createdIndex' | 'updatedIndex'>;
export type ListIndex = 'created' | 'updated';

const K = {
  invoice: ['lnmsg', 'invoice'],
  message: ['lnmsg', 'message'],
  created: ['lnmsg', 'created'],
  updated: ['lnmsg', 'updated'],
  held: ['lnmsg', 'held'],
  expires: ['lnmsg', 'expires'],
  counters: ['lnmsg', 'meta', 'counters'],
};

/** Index entries per datastore key: listing one bucket is one bounded reply, whatever the store holds. */
const BUCKET = 256;
/** Indexes are reserved in blocks, so most messages cost no counter write. */
const RESERVE = 64;
const DAY = 86_400;

interface Counters {
  /** Highest index reserved (persisted before any is used, so none is handed out twice). */
  created: number;
  updated: number;
  /** Bytes of spontaneous messages stored (counted before they are written). */
  spontaneousBytes: number;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const indexKey = (base: string[], i: number) => [...base, pad(Math.floor(i / BUCKET), 10), pad(i, 14)];
const expiryKey = (inv: Invoice) => [
  ...K.expires,
  pad(Math.floor((inv.expiresAt ?? 0) / DAY), 8),
  inv.paymentHash,
];
const messageBytes = (m: { messageHex: string }) => m.messageHex.length / 2;

/**
 * lnmsg's durable state in lightningd's datastore. Nothing is loaded at start but a few counters,
 * and every read is one bounded reply: messages by hash, lists by index bucket.
 */
export class MessageStore {
  private c: Counters = { created: 0, updated: 0, spontaneousBytes: 0 };
  private last = { created: 0, updated: 0 };
  private writing: Promise<void> = Promise.resolve();
  private reserving: Promise<void> = Promise.resolve();

  constructor(private readonly kv: Kv) {}

  /** Reads the counters; a store from before indexes existed is indexed once. */
  async open(): Promise<void> {
    const e = await this.kv.get(K.counters);
    if (e) this.c = JSON.parse(e.value) as Counters;
    else await this.indexOldMessages();
    this.last = { created: this.c.created, updated: this.c.updated };
  }

  get spontaneousBytes(): number {
    return this.c.spontaneousBytes;
  }

  async addInvoice(inv: Invoice): Promise<boolean> {
    if (inv.expiresAt !== undefined) await this.kv.put(expiryKey(inv), '');
    return this.kv.create([...K.invoice, inv.paymentHash], JSON.stringify(inv));
  }

  async invoice(paymentHash: string): Promise<Invoice | undefined> {
    const e = await this.kv.get([...K.invoice, paymentHash]);
    return e ? (JSON.parse(e.value) as Invoice) : undefined;
  }

  /**
   * Counts `bytes` of a spontaneous message against `budget` before it is stored; false when it
   * would go over. The counters' write is queued before the message's, and not waited for: a
   * crash between them can only over-count.
   */
  reserveSpontaneous(bytes: number, budget: number): boolean {
    if (this.c.spontaneousBytes + bytes > budget) return false;
    this.c.spontaneousBytes += bytes;
    this.persist().catch(() => {}); // the next write carries the count again
    return true;
  }

  async releaseSpontaneous(bytes: number): Promise<void> {
    this.c.spontaneousBytes = Math.max(0, this.c.spontaneousBytes - bytes);
    await this.persist();
  }

  /**
   * Stores a new message; undefined if one is already stored for this payment hash. The message
   * and its index entries go in one round of writes (the one write a payment waits for); an
   * index entry is written again on every replay (`reindex`), so a crash between the writes
   * cannot hide a message from lists, and an entry without its message is skipped by them.
   */
  async addMessage(msg: NewMessage): Promise<ReceivedMessage | undefined> {
    const m: ReceivedMessage = { ...msg, createdIndex: await this.nextIndex('created') };
    const [created] = await Promise.all([
      this.kv.create([...K.message, m.paymentHash], JSON.stringify(m)),
      this.reindex(m),
    ]);
    if (created) return m;
    await this.kv.delete(indexKey(K.created, m.createdIndex));
    return undefined;
  }

  /** Writes a stored message's index entries (again). */
  async reindex(m: ReceivedMessage): Promise<void> {
    await Promise.all([
      this.kv.put(indexKey(K.created, m.createdIndex), m.paymentHash),
      m.status === 'held' ? this.kv.put([...K.held, m.paymentHash], '') : undefined,
    ]);
  }

  /** A paid hash leaves the expiry sweep's list (the sweep also skips paid ones, should this not run). */
  async paid(inv: Invoice): Promise<void> {
    if (inv.expiresAt !== undefined) await this.kv.delete(expiryKey(inv));
  }

  async message(paymentHash: string): Promise<ReceivedMessage | undefined> {
    const e = await this.kv.get([...K.message, paymentHash]);
    return e ? (JSON.parse(e.value) as ReceivedMessage) : undefined;
  }

  /** Read-modify-write with the datastore's generation check; each change gets a new updated_index. */
  async updateMessage(
    paymentHash: string,
    change: (m: ReceivedMessage) => NewMessage,
  ): Promise<ReceivedMessage | undefined> {
    const updatedIndex = await this.nextIndex('updated');
    await this.kv.put(indexKey(K.updated, updatedIndex), paymentHash);
    for (;;) {
      const e = await this.kv.get([...K.message, paymentHash]);
      if (!e) {
        await this.kv.delete(indexKey(K.updated, updatedIndex));
        return undefined;
      }
      const before = JSON.parse(e.value) as ReceivedMessage;
      const next: ReceivedMessage = {
        ...change(before),
        createdIndex: before.createdIndex,
        updatedIndex,
      };
      if (await this.kv.replace(e.key, JSON.stringify(next), e.generation)) {
        if (before.updatedIndex !== undefined) await this.kv.delete(indexKey(K.updated, before.updatedIndex));
        if (before.status === 'held' && next.status !== 'held')
          await this.kv.delete([...K.held, paymentHash]);
        return next;
      }
    }
  }

  /** Removes a message, its indexes and its payment hash; gives back its share of the budget. */
  async deleteMessage(paymentHash: string): Promise<ReceivedMessage | undefined> {
    const m = await this.message(paymentHash);
    if (!m) return undefined;
    await this.kv.delete([...K.message, paymentHash]);
    const inv = await this.invoice(paymentHash);
    await Promise.all([
      this.kv.delete(indexKey(K.created, m.createdIndex)),
      m.updatedIndex === undefined ? undefined : this.kv.delete(indexKey(K.updated, m.updatedIndex)),
      this.kv.delete([...K.held, paymentHash]),
      inv ? this.deleteInvoice(inv) : undefined,
    ]);
    if (m.spontaneous) await this.releaseSpontaneous(messageBytes(m));
    return m;
  }

  /**
   * Up to `limit` messages with `index` >= `start`, in that index's order. Reads index buckets
   * from `start` on (each one bounded reply), then each message by its hash.
   */
  async list(index: ListIndex, start: number, limit: number): Promise<ReceivedMessage[]> {
    const base = index === 'created' ? K.created : K.updated;
    const out: ReceivedMessage[] = [];
    const highest = this.last[index];
    for (let b = Math.floor(start / BUCKET); out.length < limit && b <= Math.floor(highest / BUCKET); b++) {
      const entries = (await this.kv.list([...base, pad(b, 10)]))
        .map((e) => ({ i: Number(e.key.at(-1)), hash: e.value }))
        .filter((e) => e.i >= start)
        .sort((x, y) => x.i - y.i)
        .slice(0, limit - out.length);
      const found = await Promise.all(entries.map((e) => this.message(e.hash)));
      for (const [k, m] of found.entries()) {
        const i = (entries[k] as { i: number }).i;
        // An index entry whose message is gone or moved on (a crash between writes) is skipped.
        if (m && (index === 'created' ? m.createdIndex : m.updatedIndex) === i) out.push(m);
      }
    }
    return out;
  }

  /** Payment hashes of the messages held for a decision (bounded by the HTLCs a node can hold). */
  heldHashes(): Promise<string[]> {
    return this.kv.children(K.held);
  }

  /** Removes the held mark of a message that is gone. */
  async forgetHeld(paymentHash: string): Promise<void> {
    await this.kv.delete([...K.held, paymentHash]);
  }

  /**
   * Removes the unpaid payment hashes that expired before today (UTC), a day's bucket at a time.
   * Returns how many were removed.
   */
  async sweepExpired(now: number): Promise<number> {
    let removed = 0;
    const today = Math.floor(now / DAY);
    for (const day of await this.kv.children(K.expires)) {
      if (Number(day) >= today) continue;
      for (const hash of await this.kv.children([...K.expires, day])) {
        const [inv, m] = await Promise.all([this.invoice(hash), this.message(hash)]);
        if (inv && !m) {
          await this.kv.delete([...K.invoice, hash]);
          removed++;
        }
        await this.kv.delete([...K.expires, day, hash]);
      }
    }
    return removed;
  }

  private async deleteInvoice(inv: Invoice): Promise<void> {
    await this.kv.delete([...K.invoice, inv.paymentHash]);
    if (inv.expiresAt !== undefined) await this.kv.delete(expiryKey(inv));
  }

  private async nextIndex(kind: 'created' | 'updated'): Promise<number> {
    const i = ++this.last[kind];
    if (i > this.c[kind]) {
      this.c[kind] = i + RESERVE - 1;
      this.reserving = this.persist();
    }
    // Every caller waits for the write that covers its index (it may be another caller's).
    await this.reserving;
    return i;
  }

  /** Writes the counters; writes are chained, each one the newest values. */
  private persist(): Promise<void> {
    const next = this.writing.then(() => this.kv.put(K.counters, JSON.stringify(this.c)));
    this.writing = next.catch(() => {});
    return next;
  }

  /** A store written before indexes existed: its messages get created indexes in arrival order. */
  private async indexOldMessages(): Promise<void> {
    const old = (await this.kv.list(K.message))
      .map((e) => JSON.parse(e.value) as ReceivedMessage)
      .sort((a, b) => a.receivedAt - b.receivedAt);
    for (const [i, m] of old.entries()) {
      const createdIndex = i + 1;
      await this.kv.put(indexKey(K.created, createdIndex), m.paymentHash);
      await this.kv.put([...K.message, m.paymentHash], JSON.stringify({ ...m, createdIndex }));
      if (m.spontaneous) this.c.spontaneousBytes += messageBytes(m);
    }
    this.c.created = old.length;
    await this.persist();
  }
}
