import type { RawRecord } from '../wire/payment-records.js';
import { IndexedRecords, type ListIndex, pad, type Unindexed } from './indexed.js';
import type { Kv } from './kv.js';

/**
 * A payment hash the payee handed out, waiting for its message: lnmsg settles it with `preimage`
 * (the seed's flow), or it is one of lightningd's BOLT 11 invoices, which lightningd settles and
 * whose every part must carry `paymentSecret`.
 */
export interface Invoice {
  paymentHash: string;
  preimage?: string;
  paymentSecret?: string;
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

/** `settling`: lnmsg let lightningd settle it (an invoice); `settled` once lightningd says it did. */
export type MessageStatus = 'settled' | 'settling' | 'held' | 'rejected';

/** A custom record as kept: its type (decimal) and value (hex). */
export type KeptRecord = RawRecord;

/** A message (or the records of a payment) that arrived. Stored before its payment is settled. */
export interface ReceivedMessage {
  paymentHash: string;
  /** lnmsg's message record; empty for a payment that carried only other records. */
  messageHex: string;
  /** The payment's other custom records (>= 65536), in type order. */
  records?: KeptRecord[];
  tlvType: number;
  amountMsat: number;
  receivedAt: number;
  htlcs: HtlcRef[];
  status: MessageStatus;
  spontaneous: boolean;
  /** Paid through one of lightningd's BOLT 11 invoices (lightningd settled it). */
  viaInvoice?: boolean;
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
  /** What a spontaneous entry counts against lnmsg-max-stored-bytes (absent on older entries). */
  storedBytes?: number;
  /** As lightningd's lists: the order messages were stored, and of their last change. */
  createdIndex: number;
  updatedIndex?: number;
}

export type NewMessage = Unindexed<ReceivedMessage>;
export type { ListIndex };

const K = {
  invoice: ['lnmsg', 'invoice'],
  held: ['lnmsg', 'held'],
  paid: ['lnmsg', 'paid'],
  expires: ['lnmsg', 'expires'],
};
const KEYS = {
  records: ['lnmsg', 'message'],
  created: ['lnmsg', 'created'],
  updated: ['lnmsg', 'updated'],
  counters: ['lnmsg', 'meta', 'counters'],
};
const DAY = 86_400;

const expiryKey = (inv: Invoice) => [
  ...K.expires,
  pad(Math.floor((inv.expiresAt ?? 0) / DAY), 8),
  inv.paymentHash,
];
/** Bytes lnmsg's index entries, counters and datastore keys take for one entry, at the least. */
export const ENTRY_BYTES = 256;
/** What an entry counts against the spontaneous budget: its JSON as the datastore holds it, and its keys. */
export const storedBytes = (m: NewMessage) => Buffer.byteLength(JSON.stringify(m)) + ENTRY_BYTES;
/** An entry's share of the budget (older entries counted their message and records' bytes). */
const chargedBytes = (m: ReceivedMessage) =>
  m.storedBytes ?? (m.messageHex.length + (m.records ?? []).reduce((n, r) => n + r.value.length, 0)) / 2;
const unsettled = (m: { status: MessageStatus }) => m.status === 'held' || m.status === 'settling';

/**
 * lnmsg's durable state in lightningd's datastore. Nothing is loaded at start but a few counters,
 * and every read is one bounded reply: messages by hash, lists by index bucket.
 */
export class MessageStore {
  private readonly messages: IndexedRecords<ReceivedMessage, { spontaneousBytes: number }>;

  constructor(private readonly kv: Kv) {
    // spontaneousBytes: bytes of spontaneous messages stored (counted before they are written).
    this.messages = new IndexedRecords(kv, KEYS, { spontaneousBytes: 0 });
  }

  /** Reads the counters; a store from before indexes existed is indexed once. */
  async open(): Promise<void> {
    if (!(await this.messages.open())) await this.indexOldMessages();
  }

  get spontaneousBytes(): number {
    return this.messages.counts.spontaneousBytes;
  }

  async addInvoice(inv: Invoice): Promise<boolean> {
    if (inv.expiresAt !== undefined) await this.kv.put(expiryKey(inv), '');
    return this.kv.create([...K.invoice, inv.paymentHash], JSON.stringify(inv));
  }

  /** Rewrites a payment hash's record (its expiry stays as it was added). */
  async setInvoice(inv: Invoice): Promise<void> {
    await this.kv.put([...K.invoice, inv.paymentHash], JSON.stringify(inv));
  }

  async invoice(paymentHash: string): Promise<Invoice | undefined> {
    const e = await this.kv.get([...K.invoice, paymentHash]);
    return e ? (JSON.parse(e.value) as Invoice) : undefined;
  }

  /**
   * Stores a new message: `exists` if one is already stored for its hash (a refused one is
   * replaced: its payer was refunded, so the hash is payable again). A spontaneous one first counts
   * its stored bytes against `budget`: `full` when it would go over. The counters' write is queued
   * before the message's and not waited for, so a crash between them can only over-count. The
   * message and its index entries go in one round of writes (the one write a payment waits for);
   * an index entry is written again on every replay (`reindex`), so a crash between the writes
   * cannot hide a message from lists, and an entry without its message is skipped by them.
   */
  async addMessage(msg: NewMessage, budget = Infinity): Promise<ReceivedMessage | 'exists' | 'full'> {
    const counts = this.messages.counts;
    const bytes = msg.spontaneous ? storedBytes(msg) : 0;
    if (counts.spontaneousBytes + bytes > budget) return 'full';
    const entry = msg.spontaneous ? { ...msg, storedBytes: bytes } : msg;
    counts.spontaneousBytes += bytes;
    this.messages.persist().catch(() => {}); // the next write carries the count again
    let stored: ReceivedMessage | undefined;
    try {
      stored = await this.messages.add(entry, (m) => this.markHeld(m));
      if (!stored) stored = await this.replaceRefused(entry);
    } finally {
      if (!stored && bytes > 0) await this.releaseSpontaneous(bytes);
    }
    return stored ?? 'exists';
  }

  /** A new message in place of a refused one on the same hash (keeping its created index). */
  private async replaceRefused(msg: NewMessage): Promise<ReceivedMessage | undefined> {
    const r = await this.messages.update(msg.paymentHash, (cur) =>
      cur.status === 'rejected' ? msg : undefined,
    );
    if (!r) return undefined;
    if (r.before.spontaneous) await this.releaseSpontaneous(chargedBytes(r.before));
    await this.markHeld(r.after);
    return r.after;
  }

  private async releaseSpontaneous(bytes: number): Promise<void> {
    const counts = this.messages.counts;
    counts.spontaneousBytes = Math.max(0, counts.spontaneousBytes - bytes);
    await this.messages.persist();
  }

  /** Writes a stored message's index entries (again). */
  async reindex(m: ReceivedMessage): Promise<void> {
    await Promise.all([this.messages.reindex(m), this.markHeld(m)]);
  }

  message(paymentHash: string): Promise<ReceivedMessage | undefined> {
    return this.messages.get(paymentHash);
  }

  /** Read-modify-write with the datastore's generation check; each change gets a new updated_index. */
  async updateMessage(
    paymentHash: string,
    change: (m: ReceivedMessage) => NewMessage,
  ): Promise<ReceivedMessage | undefined> {
    const r = await this.messages.update(paymentHash, change);
    if (r && unsettled(r.before) && !unsettled(r.after)) await this.forgetHeld(paymentHash);
    return r?.after;
  }

  /**
   * Removes a message, its indexes and its payment hash; gives back its share of the budget. The
   * records of a payment that carried no message leave its hash's record alone: a message may
   * still come on it, and keeps the invoice's options (`hold`).
   */
  async deleteMessage(paymentHash: string): Promise<ReceivedMessage | undefined> {
    const m = await this.messages.remove(paymentHash, async (old) => {
      const paid = old.status === 'settled' || old.status === 'settling';
      // lnmsg settles seed and keysend hashes itself, and once paid their preimage is public: the
      // hash stays marked paid so that nobody who saw it settle writes a message of its own there.
      if (paid && !old.viaInvoice) await this.kv.put([...K.paid, paymentHash], '');
      // An unpaid hash stays payable with its options (hold); a records-only entry keeps them too.
      const inv = paid && old.messageHex !== '' ? await this.invoice(paymentHash) : undefined;
      await Promise.all([this.forgetHeld(paymentHash), inv ? this.deleteInvoice(inv) : undefined]);
    });
    if (m?.spontaneous) await this.releaseSpontaneous(chargedBytes(m));
    return m;
  }

  /** Whether a seed or keysend hash was paid and its message deleted since (`deleteMessage`). */
  async wasPaid(paymentHash: string): Promise<boolean> {
    return (await this.kv.get([...K.paid, paymentHash])) !== undefined;
  }

  /**
   * Up to `limit` messages with `index` >= `start`, in that index's order. Reads index buckets
   * from `start` on (each one bounded reply), then each message by its hash.
   */
  list(index: ListIndex, start: number, limit: number): Promise<ReceivedMessage[]> {
    return this.messages.list(index, start, limit);
  }

  /**
   * Payment hashes of the messages held for a decision or settling, what must be checked after a
   * restart (bounded by the HTLCs a node can hold).
   */
  heldHashes(): Promise<string[]> {
    return this.kv.children(K.held);
  }

  /** Removes the held mark of a message that is gone. */
  async forgetHeld(paymentHash: string): Promise<void> {
    await this.kv.delete([...K.held, paymentHash]);
  }

  /**
   * Removes the unpaid payment hashes that expired before today (UTC), a day's bucket at a time.
   * Returns how many were removed. Paid hashes stay on the expiry list until then (the sweep skips
   * them): taking them off as they are paid would cost a datastore write on every payment.
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

  private async markHeld(m: ReceivedMessage): Promise<void> {
    if (unsettled(m)) await this.kv.put([...K.held, m.paymentHash], '');
  }

  async deleteInvoice(inv: Invoice): Promise<void> {
    await this.kv.delete([...K.invoice, inv.paymentHash]);
    if (inv.expiresAt !== undefined) await this.kv.delete(expiryKey(inv));
  }

  /** A store written before indexes existed: its messages get created indexes in arrival order. */
  private async indexOldMessages(): Promise<void> {
    const old = (await this.kv.list(KEYS.records))
      .map((e) => JSON.parse(e.value) as ReceivedMessage)
      .sort((a, b) => a.receivedAt - b.receivedAt);
    for (const o of old) {
      const m = { ...o, createdIndex: await this.messages.nextIndex('created') };
      await this.messages.reindex(m);
      await this.kv.put([...KEYS.records, m.paymentHash], JSON.stringify(m));
      if (m.spontaneous) this.messages.counts.spontaneousBytes += chargedBytes(m);
    }
    await this.messages.persist();
  }
}
