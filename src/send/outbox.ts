import type { LogLevel } from '../cln/plugin.js';
import type { Rpc } from '../cln/rpc.js';
import type { NewSend, OutboxStore, SendOutcome, SentMessage } from '../store/outbox.js';
import { alreadyPaid, type MessageSent } from './message.js';
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
 * Bookkeeping writes wait this long, then until no send is getting its first HTLC out (at most
 * QUIET_WAIT_MS more): lightningd runs one command at a time, and an HTLC on its way should not
 * queue behind a datastore write, nor a send that follows one at once behind its predecessor's.
 */
const BOOKKEEPING_DELAY_MS = 20;
const QUIET_WAIT_MS = 100;

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
  /** sendmessage calls whose first HTLC has not left yet. */
  private preparingCalls = 0;
  private readonly waiting = new Set<() => void>();

  constructor(
    readonly store: OutboxStore,
    private readonly listsendpays: (paymentHash: string) => Promise<SendPay[]>,
    private readonly log: (level: LogLevel, message: string) => void = () => {},
    /** ms since 1970 */
    private readonly clock: () => number = Date.now,
  ) {}

  async open(): Promise<void> {
    await this.store.open();
    for (const hash of await this.store.pendingHashes()) {
      await this.recordClaimed(hash);
      await this.settle(hash, restarted);
    }
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
      if (--this.preparingCalls === 0) for (const wake of this.waiting) wake();
    };
  }

  /**
   * Queues a bookkeeping write for after the HTLCs being prepared (BOOKKEEPING_DELAY_MS): it
   * holds no payment up, and a crash before it is made costs nothing, as the pending mark
   * written before the HTLC left lets the next start write the entry and settle it from
   * lightningd's record. Reads, and a new send to the hash, wait for it (`written`).
   */
  later(paymentHash: string, work: () => Promise<unknown>): Promise<void> {
    const write = (this.writing.get(paymentHash) ?? Promise.resolve())
      .then(() => this.quiet())
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

  /** Resolves once the writes `later` queued (for one hash, or all) are made. */
  async written(paymentHash?: string): Promise<void> {
    if (paymentHash === undefined) await Promise.all(this.writing.values());
    else await this.writing.get(paymentHash);
  }

  private async quiet(): Promise<void> {
    await new Promise((r) => setTimeout(r, BOOKKEEPING_DELAY_MS));
    if (this.preparingCalls === 0) return;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, QUIET_WAIT_MS);
      this.waiting.add(wake);
    });
  }

  /** A send that died with only its pending mark written: its entry, from the mark. */
  private async recordClaimed(paymentHash: string): Promise<void> {
    try {
      if (await this.store.entry(paymentHash)) return;
      const send = await this.store.pendingSend(paymentHash);
      if (send) await this.store.record(send);
    } catch (e) {
      this.log('unusual', `outbox: could not write pending ${paymentHash}: ${(e as Error).message}`);
    }
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
        await this.store.forgetPending(paymentHash);
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
 * One sendmessage call's entry: claimed (its pending mark written) once the payment hash is
 * known, before any HTLC leaves; the entry itself, and how the call ended, written after.
 */
export class Sending {
  private claimed?: NewSend;
  private entry?: Promise<void>;
  private readonly prepared: () => void;

  constructor(
    private readonly outbox: Outbox,
    private readonly send: Omit<NewSend, 'paymentHash' | 'createdAt'>,
  ) {
    this.prepared = outbox.preparing();
  }

  /** For `MessageSend.onHash`: the claim; refused while a send to this hash is pending or complete. */
  readonly begin = async (paymentHash: string): Promise<void> => {
    await this.outbox.written(paymentHash);
    const send = { ...this.send, paymentHash, createdAt: this.outbox.now() };
    const r = await this.outbox.store.claim(send);
    if (r === 'busy')
      throw new SendError(`a message to payment_hash ${paymentHash} is being sent already`, [], 'invalid');
    if (r !== 'claimed') throw alreadyPaid(paymentHash);
    this.claimed = send;
  };

  /** For `MessageSend.onSent`: the first HTLC left, so the entry is written now (in the background). */
  readonly sent = (): void => {
    this.prepared();
    this.record();
  };

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
    if (!this.claimed) return;
    const { paymentHash } = this.claimed;
    this.record();
    await this.outbox.written(paymentHash);
    const message = String((e as Error).message ?? e);
    await this.outbox.settle(paymentHash, () => ({ code: INTERNAL_ERROR, message }));
  }

  /** Writes the outcome after the entry, not holding the caller up (`Outbox.later`). */
  private end(outcome: SendOutcome): void {
    this.prepared();
    if (!this.claimed) return;
    const { paymentHash } = this.claimed;
    this.record();
    void this.outbox.later(paymentHash, () => this.outbox.finish(paymentHash, outcome));
  }

  private record(): void {
    const send = this.claimed;
    if (!send || this.entry) return;
    this.entry = this.outbox.later(send.paymentHash, () => this.outbox.store.record(send));
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
