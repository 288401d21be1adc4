import type { LogLevel } from '../cln/plugin.js';
import type { Rpc } from '../cln/rpc.js';
import type { ClaimedSend, NewSend, OutboxStore, SendOutcome, SentMessage } from '../store/outbox.js';
import type { MessageSent } from './message.js';
import { SendError } from './sender.js';

/** A part of a payment as `listsendpays` shows it: the fields the outbox reads. */
export interface SendPay {
  payment_hash: string;
  status: 'pending' | 'complete' | 'failed';
  amount_msat?: number;
  amount_sent_msat: number;
  payment_preimage?: string;
  completed_at?: number;
}

type EntryError = NonNullable<SentMessage['error']>;
/** The error an entry ends with when nothing of its payment completed, given lightningd's record of it. */
type ErrorFor = (payments: SendPay[]) => EntryError;

/** sendmessage's code for an error that is not one of its own (the plugin answers it as internal). */
const INTERNAL_ERROR = -32603;
/** A send the node's restart cut short is given up, as when retry_for runs out (LNMSG_ERRORS.timeout). */
const GAVE_UP = 1604;

const restarted: ErrorFor = (payments) => ({
  code: GAVE_UP,
  message:
    payments.length > 0
      ? 'the node restarted while sending; lightningd reports it failed'
      : 'the node restarted before the message was sent (lightningd has no payment for this hash)',
});

const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * When bookkeeping writes are made: lightningd runs one command at a time, and an HTLC of ours
 * should not wait behind a datastore write, be it prepared (getroutes, createonion) or on its
 * first hop (lightningd commits it with the peer over some tens of ms). So a write waits
 * BOOKKEEPING_DELAY_MS (a send that follows another at once starts meanwhile), then until no
 * send is being prepared and none left for HTLC_QUIET_MS, at most BOOKKEEPING_MAX_WAIT_MS in all;
 * a reader asking for it has it made at once. Writes still waiting when an HTLC of ours is handed
 * to lightningd go with it, in the same write as its sendonion: lightningd commits them with the
 * HTLC, which commits anyway, rather than in a commit of their own.
 */
const BOOKKEEPING_DELAY_MS = 20;
const HTLC_QUIET_MS = 40;
const BOOKKEEPING_MAX_WAIT_MS = 200;

/**
 * What lightningd's record of a payment's parts says of it: undefined while any part is in flight;
 * complete when a part is (the payee released the preimage), with the amounts of the parts that
 * are; else failed with `error`.
 */
export function outcomeOf(payments: SendPay[], error: ErrorFor, now: number): SendOutcome | undefined {
  if (payments.some((p) => p.status === 'pending')) return undefined;
  const done = payments.filter((p) => p.status === 'complete');
  if (done.length === 0) return { error: error(payments), completedAt: now };
  const amountSentMsat = done.reduce((n, p) => n + p.amount_sent_msat, 0);
  return {
    paymentPreimage: (done[0] as SendPay).payment_preimage as string,
    amountSentMsat,
    feeMsat: amountSentMsat - done.reduce((n, p) => n + (p.amount_msat ?? 0), 0),
    parts: done.length,
    completedAt: Math.max(...done.map((p) => p.completed_at ?? now)),
  };
}

/**
 * Every message this node sends, kept in the outbox store: `pending` before the first HTLC leaves,
 * then `complete` or `failed`. Entries a previous run left pending are settled from lightningd's
 * record of their payment (`listsendpays` for that one hash): at start, and again as lightningd
 * announces each of their parts ending (`sendpay_success`/`sendpay_failure`).
 */
export class Outbox {
  /**
   * Pending entries no sendmessage call will end (lightningd's record of their payment will), and
   * the error each ends with if nothing of it completes.
   */
  private readonly orphans = new Map<string, ErrorFor>();
  /** Bookkeeping writes still to be made, by payment hash (each hash's in order). */
  private readonly writing = new Map<string, Promise<void>>();
  /** Calls whose payment hash is claimed and whose outcome is not queued yet. */
  private readonly active = new Map<string, Sending>();
  /** sendmessage calls whose first HTLC has not left yet. */
  private preparingCalls = 0;
  /** When an HTLC of ours last left (ms since 1970). */
  private lastHtlc = 0;
  /**
   * The moment every bookkeeping write waiting now is made, together: lightningd (batching)
   * commits writes that reach it together once. `hurry` brings it forward for a reader.
   */
  private flush?: { done: Promise<void>; hurry: () => void };

  constructor(
    readonly store: OutboxStore,
    private readonly listsendpays: (paymentHash: string) => Promise<SendPay[]>,
    readonly log: (level: LogLevel, message: string) => void = () => {},
    /** ms since 1970 */
    private readonly clock: () => number = Date.now,
  ) {}

  async open(): Promise<void> {
    await this.store.open();
    const unwritable = (hash: string, e: Error) =>
      this.log('unusual', `outbox: could not write pending ${hash}: ${e.message}`);
    for (const hash of await this.store.recover(unwritable)) await this.settle(hash, restarted);
  }

  /** A part of some payment ended: settles the entry if it is an orphan. */
  async sendpayEnded(paymentHash: string): Promise<void> {
    const error = this.orphans.get(paymentHash);
    if (error) await this.settle(paymentHash, error);
  }

  /** Records one sendmessage call. */
  sending(send: Omit<NewSend, 'paymentHash' | 'createdAt'>): Sending {
    return new Sending(this, send);
  }

  now(): number {
    return seconds(this.clock());
  }

  /** A sendmessage call starts getting its first HTLC out; the function returned says it is done. */
  preparing(): () => void {
    this.preparingCalls++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.preparingCalls--;
    };
  }

  /** An HTLC of ours is being handed to lightningd (its sendonion is sent in this tick): waiting writes go along. */
  htlcSent(): void {
    this.lastHtlc = Date.now();
    this.flush?.hurry();
  }

  /** A call's claim stands until its outcome is queued: `current` writes its pending entry if asked. */
  claimed(paymentHash: string, sending: Sending | undefined): void {
    if (sending) this.active.set(paymentHash, sending);
    else this.active.delete(paymentHash);
  }

  /**
   * Queues a bookkeeping write for when lightningd is not busy with an HTLC of ours (see
   * BOOKKEEPING_DELAY_MS). It holds no payment up, and a crash before it is made costs nothing:
   * the claim written with the first HTLC lets the next start write the entry and settle
   * it from lightningd's record. Readers wait for it (`current`).
   */
  later(paymentHash: string, work: () => Promise<unknown>, now = false): Promise<void> {
    const write = (this.writing.get(paymentHash) ?? Promise.resolve())
      .then(() => (now ? undefined : this.quiet()))
      .then(work)
      .then(
        () => {},
        (e: unknown) =>
          this.log('broken', `outbox: could not write the entry of ${paymentHash}: ${(e as Error).message}`),
      )
      .finally(() => {
        if (this.writing.get(paymentHash) === write) this.writing.delete(paymentHash);
      });
    this.writing.set(paymentHash, write);
    return write;
  }

  /**
   * Brings the store up to date for a reader (of one hash, or all): the pending entries of sends
   * in flight, and every write queued, made now.
   */
  async current(paymentHash?: string): Promise<void> {
    const asked = (hash: string) => paymentHash === undefined || paymentHash === hash;
    for (const [hash, sending] of this.active) if (asked(hash)) sending.show();
    // Whatever else waits goes along: one commit for all.
    if ([...this.writing.keys()].some(asked)) this.flush?.hurry();
    if (paymentHash === undefined) await Promise.all(this.writing.values());
    else await this.writing.get(paymentHash);
  }

  /** Resolves once lightningd is likely free of our HTLCs (see BOOKKEEPING_DELAY_MS), or a reader hurries it. */
  private quiet(): Promise<void> {
    if (this.flush) return this.flush.done;
    let hurried = false;
    let hurry = () => {};
    const hurrying = new Promise<void>((resolve) => {
      hurry = () => {
        hurried = true;
        resolve();
      };
    });
    const deadline = Date.now() + BOOKKEEPING_MAX_WAIT_MS;
    const done = (async () => {
      for (let wait = BOOKKEEPING_DELAY_MS; !hurried && Date.now() < deadline;) {
        await Promise.race([hurrying, new Promise((r) => setTimeout(r, wait))]);
        const idle = Date.now() - this.lastHtlc;
        if (this.preparingCalls === 0 && idle >= HTLC_QUIET_MS) break;
        wait = this.preparingCalls === 0 ? HTLC_QUIET_MS - idle : HTLC_QUIET_MS;
      }
      this.flush = undefined;
    })();
    this.flush = { done, hurry };
    return done;
  }

  /** Writes an outcome; a write that fails is logged (the entry stays pending until the next start). */
  async finish(paymentHash: string, outcome: SendOutcome): Promise<void> {
    try {
      await this.store.finish(paymentHash, outcome);
    } catch (e) {
      this.log('broken', `outbox: could not record how ${paymentHash} ended: ${(e as Error).message}`);
    }
  }

  /** Ends a pending entry as lightningd's record of its payment says, or watches it while in flight. */
  async settle(paymentHash: string, error: ErrorFor): Promise<void> {
    try {
      const e = await this.store.entry(paymentHash);
      if (e?.status !== 'pending') {
        this.orphans.delete(paymentHash);
        await this.store.release(paymentHash);
        return;
      }
      // Watched before lightningd is asked, so a part ending meanwhile is not missed.
      this.orphans.set(paymentHash, error);
      const outcome = outcomeOf(await this.listsendpays(paymentHash), error, this.now());
      if (!outcome) return; // still in flight: its parts' notifications bring it back here
      const ended = await this.store.finish(paymentHash, outcome);
      this.orphans.delete(paymentHash);
      if (ended) this.log('info', `outbox: ${paymentHash} ${ended.status}, as lightningd's record shows`);
    } catch (e) {
      this.log('unusual', `outbox: could not settle pending ${paymentHash}: ${(e as Error).message}`);
    }
  }
}

/**
 * One sendmessage call's entry: claimed once the payment hash is known; the claim written to its
 * slot as the first HTLC is handed to lightningd (`sent`); the entry itself written when the
 * call ends, in its final state, or pending before that if a reader asks for it (`Outbox.current`).
 */
export class Sending {
  private claim?: ClaimedSend;
  /** Its claim is written (or being written) to its slot. */
  private held = false;
  /** Its pending entry is written or queued. */
  private shown = false;
  private readonly prepared: () => void;

  constructor(
    private readonly outbox: Outbox,
    private readonly send: Omit<NewSend, 'paymentHash' | 'createdAt'>,
  ) {
    this.prepared = outbox.preparing();
  }

  /** For `MessageSend.onHash`: the claim; refused while a send to this hash is pending or complete. */
  readonly begin = async (paymentHash: string): Promise<void> => {
    await this.outbox.current(paymentHash);
    const send = { ...this.send, paymentHash, createdAt: this.outbox.now() };
    const r = await this.outbox.store.claim(send);
    if (r === 'busy')
      throw new SendError(`a message to payment_hash ${paymentHash} is being sent already`, [], 'invalid');
    this.claim = r;
    this.outbox.claimed(paymentHash, this);
  };

  /**
   * For `MessageSend.onSent`, called just before an HTLC's command is sent: the claim's write goes
   * ahead of it on the same connection, so lightningd commits the two together (batching) and
   * the HTLC leaves only after. Bookkeeping waits a little more.
   */
  readonly sent = (): void => {
    this.hold();
    this.outbox.htlcSent();
    this.prepared();
  };

  /** Writes the claim to its slot, once. */
  private hold(): void {
    const claim = this.claim;
    if (!claim || this.held) return;
    this.held = true;
    this.outbox.store.hold(claim).catch((e: unknown) => {
      // Tried again with the next HTLC or reader; meanwhile only a crash before the entry is written would lose it.
      this.held = false;
      this.outbox.log(
        'broken',
        `outbox: could not write the claim of ${claim.paymentHash}: ${(e as Error).message}`,
      );
    });
  }

  /** A reader wants the entry while the call runs: its pending state is written now. */
  show(): void {
    const send = this.claim;
    if (!send || this.shown) return;
    this.shown = true;
    // A pending entry is settled at the next start only through its claim.
    this.hold();
    void this.outbox.later(send.paymentHash, () => this.outbox.store.record(send), true);
  }

  complete(r: MessageSent): void {
    this.end({
      paymentPreimage: r.paymentPreimage,
      amountSentMsat: r.amountSentMsat,
      feeMsat: r.feeMsat,
      parts: r.parts.length,
      completedAt: this.outbox.now(),
    });
  }

  /** The call failed with `error`, which it returns to its caller. */
  failed(error: EntryError): void {
    this.end({ error, completedAt: this.outbox.now() });
  }

  /** The call ended with an error that says nothing of the payment: lightningd's record decides. */
  async unsure(e: unknown): Promise<void> {
    this.prepared();
    const send = this.claim;
    if (!send) return;
    this.show();
    this.outbox.claimed(send.paymentHash, undefined);
    await this.outbox.current(send.paymentHash);
    const message = String((e as Error).message ?? e);
    await this.outbox.settle(send.paymentHash, () => ({ code: INTERNAL_ERROR, message }));
  }

  /** Queues the entry's final state, written after the caller has its answer (`Outbox.later`). */
  private end(outcome: SendOutcome): void {
    this.prepared();
    const send = this.claim;
    if (!send) return;
    const hash = send.paymentHash;
    this.outbox.claimed(hash, undefined);
    const shown = this.shown;
    void this.outbox.later(hash, () =>
      shown ? this.outbox.finish(hash, outcome) : this.outbox.store.ended(send, outcome),
    );
  }
}

/** lightningd's record of one payment's parts: one hash, so one bounded reply. */
export function listSendPays(rpc: Rpc) {
  return async (paymentHash: string): Promise<SendPay[]> => {
    const { payments } = await rpc.call<{ payments: SendPay[] }>('listsendpays', {
      payment_hash: paymentHash,
    });
    return payments.filter((p) => p.payment_hash === paymentHash);
  };
}

/** A `sendpay_success` or `sendpay_failure` notification (the failure's payment is under `data`). */
export async function sendpayNotified(outbox: Outbox | undefined, payload: unknown): Promise<void> {
  const p = (payload ?? {}) as { payment_hash?: unknown; data?: { payment_hash?: unknown } };
  const hash = p.payment_hash ?? p.data?.payment_hash;
  if (outbox && typeof hash === 'string') await outbox.sendpayEnded(hash);
}
