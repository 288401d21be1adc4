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
/**
 * Slots holding the sends not yet ended, each a claim (or empty): what a restarted plugin asks
 * lightningd about. A slot is overwritten by the next claim once its send's entry has ended, so a
 * send costs one write here and none to clear it; a slot's stale claim is told by its entry.
 */
const INFLIGHT = ['lnmsg', 'outbox', 'inflight'];
/** Pending marks of older lnmsg versions (one per hash, deleted as each ended): read at start. */
const LEGACY_PENDING = ['lnmsg', 'outbox', 'pending'];

const statusOf = (outcome: SendOutcome): SendStatus => ('error' in outcome ? 'failed' : 'complete');
const slotKey = (slot: number) => [...INFLIGHT, String(slot)];

/** The outbox: every message sent, in lightningd's datastore; start-up reads the counters and the slots. */
export class OutboxStore {
  private readonly sent: IndexedRecords<SentMessage>;
  /** What each slot holds on disk (undefined: empty). */
  private readonly slots: (ClaimedSend | undefined)[] = [];
  /** The slot of each send not yet ended, by payment hash: such a hash is busy. */
  private readonly holding = new Map<string, number>();
  /** Hashes whose only record of a send is an older lnmsg's pending mark. */
  private readonly legacy = new Set<string>();

  constructor(private readonly kv: Kv) {
    this.sent = new IndexedRecords(kv, KEYS, {});
  }

  async open(): Promise<void> {
    await this.sent.open();
    for (const e of await this.kv.list(INFLIGHT)) {
      const slot = Number(e.key.at(-1));
      if (Number.isSafeInteger(slot) && slot >= 0 && e.value)
        this.slots[slot] = JSON.parse(e.value) as ClaimedSend;
    }
    for (const hash of await this.kv.children(LEGACY_PENDING)) this.legacy.add(hash);
  }

  /**
   * The sends a previous run left unended (so held now): each one's entry is written from its
   * claim if that run died before writing it. Returns their hashes, for lightningd's record to
   * settle (`finish`, or `release` when the entry turns out ended). A send whose entry cannot be
   * written is told to `unwritable` and left for the next start.
   */
  async recover(unwritable: (paymentHash: string, e: Error) => void): Promise<string[]> {
    // The newest claim of each hash: an older one's send had ended before the newer could claim it.
    const newest = new Map<string, { slot: number; claim: ClaimedSend }>();
    for (const [slot, claim] of this.slots.entries()) {
      const seen = claim && newest.get(claim.paymentHash);
      if (claim && (!seen || seen.claim.createdIndex < claim.createdIndex))
        newest.set(claim.paymentHash, { slot, claim });
    }
    const unended: string[] = [];
    for (const [hash, { slot, claim }] of newest) {
      try {
        let entry = await this.sent.get(hash);
        // A later send's entry: this slot's claim is stale.
        if (entry && entry.createdIndex > claim.createdIndex) continue;
        // This send's entry (the run may have died between its writes), or none yet.
        if (entry?.createdIndex === claim.createdIndex) await this.sent.reindex(entry, true);
        else entry = await this.record(claim);
        if (entry.status !== 'pending') continue;
        this.holding.set(hash, slot);
        unended.push(hash);
      } catch (e) {
        unwritable(hash, e as Error);
      }
    }
    for (const hash of this.legacy) {
      try {
        const entry = await this.sent.get(hash);
        if (entry) await this.sent.reindex(entry, true);
        else {
          const mark = await this.kv.get([...LEGACY_PENDING, hash]);
          if (mark?.value) await this.record(JSON.parse(mark.value) as ClaimedSend);
        }
        unended.push(hash);
      } catch (e) {
        unwritable(hash, e as Error);
      }
    }
    return unended;
  }

  /**
   * Claims a payment hash for a new send: a slot and the created index its entry will have, in
   * memory; `busy` while another send to the hash is unended. The claim is written to its slot
   * (`hold`) only as its first HTLC is handed to lightningd, so a send that ends before any HTLC
   * costs no write. Whether the hash is paid already is lightningd's to say (sendonion answers
   * so before any HTLC).
   */
  async claim(send: NewSend): Promise<ClaimedSend | 'busy'> {
    if (this.holding.has(send.paymentHash) || this.legacy.has(send.paymentHash)) return 'busy';
    let slot = 0;
    const held = new Set(this.holding.values());
    while (held.has(slot)) slot++;
    this.holding.set(send.paymentHash, slot);
    try {
      // Taken now, so entries list in the order their sends began, whenever each is written.
      return { ...send, createdIndex: await this.sent.nextIndex('created') };
    } catch (e) {
      this.holding.delete(send.paymentHash);
      throw e;
    }
  }

  /**
   * Writes a claim to its slot, so that a restart finds the send and writes its entry. The write
   * is asked for before this returns: a command sent after it on the same connection (the HTLC's)
   * is committed by lightningd no earlier than it.
   */
  hold(claim: ClaimedSend): Promise<void> {
    const slot = this.holding.get(claim.paymentHash);
    if (slot === undefined) return Promise.reject(new Error(`${claim.paymentHash} is not claimed`));
    return this.putSlot(slot, claim);
  }

  /** Writes a slot (empty without a claim), and what it holds on disk once written. */
  private putSlot(slot: number, claim?: ClaimedSend): Promise<void> {
    return this.kv.put(slotKey(slot), claim ? JSON.stringify(claim) : '').then(() => {
      this.slots[slot] = claim;
    });
  }

  /**
   * Writes a claimed send's `pending` entry; an ended entry of an earlier attempt (or a pending
   * one no slot holds, left by an older lnmsg) gives way to it.
   */
  async record(send: ClaimedSend): Promise<SentMessage> {
    for (;;) {
      const entry =
        (await this.sent.add({ ...send, status: 'pending' })) ?? (await this.kept(send.paymentHash));
      if (entry) return entry;
    }
  }

  /**
   * The entry in the way of a claimed send's: a complete one stays (lightningd refuses to pay
   * its hash again, so the new send ended failed); any other is removed, and undefined returned.
   */
  private async kept(paymentHash: string): Promise<SentMessage | undefined> {
    const existing = await this.sent.get(paymentHash);
    if (existing?.status === 'complete') return existing;
    if (existing) await this.sent.remove(paymentHash);
    return undefined;
  }

  /**
   * Writes the entry of a claimed send that ended before anyone needed it pending: in its final
   * state at once (it never changed once written, so it has no updated index), and frees its slot.
   * An ended entry of an earlier attempt gives way to it.
   */
  async ended(send: ClaimedSend, outcome: SendOutcome): Promise<SentMessage> {
    for (;;) {
      const entry =
        (await this.sent.add({ ...send, ...outcome, status: statusOf(outcome) })) ??
        (await this.kept(send.paymentHash));
      if (entry) {
        await this.release(send.paymentHash);
        return entry;
      }
    }
  }

  /**
   * Ends a pending entry with its outcome; undefined if it is gone or no longer pending (another
   * path got there first: the first outcome written stands).
   */
  async finish(paymentHash: string, outcome: SendOutcome): Promise<SentMessage | undefined> {
    const r = await this.sent.update(paymentHash, (e) =>
      e.status === 'pending' ? { ...e, ...outcome, status: statusOf(outcome) } : undefined,
    );
    if (r) await this.release(paymentHash);
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
    if (this.holding.has(paymentHash) || (await this.sent.get(paymentHash))?.status === 'pending')
      return 'pending';
    // A slot still holding its claim would bring the entry back at the next start.
    await Promise.all(
      this.slots.map((claim, slot) => (claim?.paymentHash === paymentHash ? this.putSlot(slot) : undefined)),
    );
    return this.sent.remove(paymentHash);
  }

  /** A send's entry has ended (or is gone): its slot may take the next claim; an older lnmsg's mark is removed. */
  async release(paymentHash: string): Promise<void> {
    this.holding.delete(paymentHash);
    if (this.legacy.delete(paymentHash)) await this.kv.delete([...LEGACY_PENDING, paymentHash]);
  }
}
