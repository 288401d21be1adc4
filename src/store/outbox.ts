import { IndexedRecords, type ListIndex, type Unindexed } from './indexed.js';
import type { Kv } from './kv.js';

export type SendStatus = 'pending' | 'complete' | 'failed';

/** A message this node sent (or tried to), kept by its payment hash. */
export interface SentMessage {
  paymentHash: string;
  destination: string;
  amountMsat: number;
  messageHex: string;
  /** A keysend: the payment hash was made here, not by the payee. */
  spontaneous: boolean;
  signed: boolean;
  /** Paid on an invoice: the invoice, and its description (the payee's words). */
  bolt11?: string;
  description?: string;
  /** Unix seconds. */
  createdAt: number;
  status: SendStatus;
  /** Once complete: what lightningd reports of the payment. */
  paymentPreimage?: string;
  amountSentMsat?: number;
  feeMsat?: number;
  parts?: number;
  /** Unix seconds, once complete or failed. */
  completedAt?: number;
  /** Once failed: the error sendmessage returned (or would have, for a send a restart cut short). */
  error?: { code: number; message: string };
  createdIndex: number;
  updatedIndex?: number;
}

export type NewSend = Omit<Unindexed<SentMessage>, 'status'>;
export type SendOutcome =
  | Required<Pick<SentMessage, 'paymentPreimage' | 'amountSentMsat' | 'feeMsat' | 'parts' | 'completedAt'>>
  | Required<Pick<SentMessage, 'error' | 'completedAt'>>;

const KEYS = {
  records: ['lnmsg', 'outbox', 'message'],
  created: ['lnmsg', 'outbox', 'created'],
  updated: ['lnmsg', 'outbox', 'updated'],
  counters: ['lnmsg', 'outbox', 'counters'],
};
/** Hashes of the entries still pending: what a restarted plugin asks lightningd about. */
const PENDING = ['lnmsg', 'outbox', 'pending'];

/** The outbox: every message sent, in lightningd's datastore; start-up reads one counters entry. */
export class OutboxStore {
  private readonly sent: IndexedRecords<SentMessage>;

  constructor(private readonly kv: Kv) {
    this.sent = new IndexedRecords(kv, KEYS, {});
  }

  async open(): Promise<void> {
    await this.sent.open();
  }

  /**
   * Writes a new `pending` entry, with its pending mark in the same round of writes. A failed
   * entry for the same hash (an earlier attempt) is replaced. Returns the entry written, or the
   * one in the way when it is pending or complete.
   */
  async begin(send: NewSend): Promise<{ entry: SentMessage } | { existing: SentMessage }> {
    for (;;) {
      const entry = await this.sent.add({ ...send, status: 'pending' }, (e) =>
        this.kv.put([...PENDING, e.paymentHash], ''),
      );
      if (entry) return { entry };
      const existing = await this.sent.get(send.paymentHash);
      // The mark written with the attempt belongs to no pending entry.
      if (existing?.status === 'complete') await this.forgetPending(send.paymentHash);
      if (existing && existing.status !== 'failed') return { existing };
      if (existing) await this.sent.remove(send.paymentHash);
    }
  }

  /**
   * Ends a pending entry with its outcome; undefined if it is gone or no longer pending (another
   * path got there first: the first outcome written stands).
   */
  async finish(paymentHash: string, outcome: SendOutcome): Promise<SentMessage | undefined> {
    const r = await this.sent.update(paymentHash, (e) =>
      e.status === 'pending'
        ? { ...e, ...outcome, status: 'error' in outcome ? 'failed' : 'complete' }
        : undefined,
    );
    if (r) await this.forgetPending(paymentHash);
    return r?.after;
  }

  entry(paymentHash: string): Promise<SentMessage | undefined> {
    return this.sent.get(paymentHash);
  }

  list(index: ListIndex, start: number, limit: number): Promise<SentMessage[]> {
    return this.sent.list(index, start, limit);
  }

  /** Removes an entry that is not pending; returns it, 'pending', or undefined when there is none. */
  async delete(paymentHash: string): Promise<SentMessage | 'pending' | undefined> {
    if ((await this.sent.get(paymentHash))?.status === 'pending') return 'pending';
    return this.sent.remove(paymentHash);
  }

  /** Hashes of the pending entries (bounded by the payments a node has in flight). */
  pendingHashes(): Promise<string[]> {
    return this.kv.children(PENDING);
  }

  /** Removes the pending mark of an entry that ended or is gone. */
  async forgetPending(paymentHash: string): Promise<void> {
    await this.kv.delete([...PENDING, paymentHash]);
  }
}
