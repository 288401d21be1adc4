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
/** A send that holds its payment hash, with the created index its entry will have. */
export type ClaimedSend = NewSend & Pick<SentMessage, 'createdIndex'>;
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

const statusOf = (outcome: SendOutcome): SendStatus => ('error' in outcome ? 'failed' : 'complete');

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
   * Claims a payment hash for a new send with one write: its pending mark, which holds the send,
   * so that a restart finds it and can write its entry (`pendingSend`). The entry itself is
   * written by `record` or `ended`, which need not hold the HTLC up. `busy` while another send
   * to the hash is pending; the complete entry in the way if there is one.
   */
  async claim(send: NewSend): Promise<{ claimed: ClaimedSend } | 'busy' | { complete: SentMessage }> {
    // Taken now, so entries list in the order their sends began, whenever each is written.
    const claim = { ...send, createdIndex: await this.sent.nextIndex('created') };
    const [claimed, existing] = await Promise.all([
      this.kv.create([...PENDING, send.paymentHash], JSON.stringify(claim)),
      this.sent.get(send.paymentHash),
    ]);
    if (existing?.status === 'complete') {
      // The mark is ours, or one left by a send that ended: neither belongs to a pending send.
      await this.forgetPending(send.paymentHash);
      return { complete: existing };
    }
    // A mark held by another: a send of this run (a start settles those a previous one left).
    return claimed ? { claimed: claim } : 'busy';
  }

  /**
   * Writes a claimed send's `pending` entry; an ended entry of an earlier attempt (or a pending
   * one no mark watches, left by an older lnmsg) gives way to it.
   */
  async record(send: ClaimedSend): Promise<SentMessage> {
    for (;;) {
      const entry =
        (await this.sent.add({ ...send, status: 'pending' })) ?? (await this.kept(send.paymentHash));
      if (entry) return entry;
    }
  }

  /**
   * The entry in the way of a claimed send's: a complete one stays (a claim is refused while
   * there is one, so none should be); any other is removed, and undefined returned.
   */
  private async kept(paymentHash: string): Promise<SentMessage | undefined> {
    const existing = await this.sent.get(paymentHash);
    if (existing?.status === 'complete') return existing;
    if (existing) await this.sent.remove(paymentHash);
    return undefined;
  }

  /**
   * Writes the entry of a claimed send that ended before anyone needed it pending: in its final
   * state at once, then clears the mark. An ended entry of an earlier attempt gives way to it.
   */
  async ended(send: ClaimedSend, outcome: SendOutcome): Promise<SentMessage> {
    for (;;) {
      const entry =
        (await this.sent.addChanged({ ...send, ...outcome, status: statusOf(outcome) })) ??
        (await this.kept(send.paymentHash));
      if (entry) {
        await this.forgetPending(send.paymentHash);
        return entry;
      }
    }
  }

  /** Writes an entry's index entries again. */
  reindex(e: SentMessage): Promise<void> {
    return this.sent.reindex(e, true);
  }

  /** The send a pending mark holds (older lnmsg versions wrote empty marks). */
  async pendingSend(paymentHash: string): Promise<ClaimedSend | undefined> {
    const e = await this.kv.get([...PENDING, paymentHash]);
    return e?.value ? (JSON.parse(e.value) as ClaimedSend) : undefined;
  }

  /**
   * Ends a pending entry with its outcome; undefined if it is gone or no longer pending (another
   * path got there first: the first outcome written stands).
   */
  async finish(paymentHash: string, outcome: SendOutcome): Promise<SentMessage | undefined> {
    const r = await this.sent.update(paymentHash, (e) =>
      e.status === 'pending' ? { ...e, ...outcome, status: statusOf(outcome) } : undefined,
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
