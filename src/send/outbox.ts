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
  /** Outcomes still being written after their sendmessage answered, by payment hash. */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    readonly store: OutboxStore,
    private readonly listsendpays: (paymentHash: string) => Promise<SendPay[]>,
    private readonly log: (level: LogLevel, message: string) => void = () => {},
    /** ms since 1970 */
    private readonly clock: () => number = Date.now,
  ) {}

  async open(): Promise<void> {
    await this.store.open();
    for (const hash of await this.store.pendingHashes()) await this.settle(hash, restarted);
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

  /**
   * Writes an outcome without holding up the caller: the payment is done, and a crash before the
   * write leaves the entry pending, which the next start settles from lightningd's record.
   * Reads and a new send to the hash wait for it (`written`).
   */
  finishLater(paymentHash: string, outcome: SendOutcome): void {
    const write = this.finish(paymentHash, outcome).finally(() => {
      if (this.writing.get(paymentHash) === write) this.writing.delete(paymentHash);
    });
    this.writing.set(paymentHash, write);
  }

  /** Resolves once the outcomes `finishLater` took (for one hash, or all) are written. */
  async written(paymentHash?: string): Promise<void> {
    if (paymentHash === undefined) await Promise.all(this.writing.values());
    else await this.writing.get(paymentHash);
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

/** One sendmessage call's entry: written once the payment hash is known, ended with the call. */
export class Sending {
  private paymentHash?: string;

  constructor(
    private readonly outbox: Outbox,
    private readonly send: Omit<NewSend, 'paymentHash' | 'createdAt'>,
  ) {}

  /** For `MessageSend.onHash`: the pending entry; refused while one for this hash is pending or complete. */
  readonly begin = async (paymentHash: string): Promise<void> => {
    await this.outbox.written(paymentHash);
    const r = await this.outbox.store.begin({ ...this.send, paymentHash, createdAt: this.outbox.now() });
    if ('existing' in r) {
      if (r.existing.status === 'complete') throw alreadyPaid(paymentHash);
      throw new SendError(`a message to payment_hash ${paymentHash} is being sent already`, [], 'invalid');
    }
    this.paymentHash = paymentHash;
  };

  /** The payment completed: its entry is written in the background (`Outbox.finishLater`). */
  complete(r: MessageSent): void {
    if (!this.paymentHash) return;
    this.outbox.finishLater(this.paymentHash, {
      paymentPreimage: r.paymentPreimage,
      amountSentMsat: r.amountSentMsat,
      feeMsat: r.feeMsat,
      parts: r.parts.length,
      completedAt: this.outbox.now(),
    });
  }

  /** The call failed with `error`, which it returns to its caller. */
  async failed(error: EntryError): Promise<void> {
    if (!this.paymentHash) return;
    await this.outbox.finish(this.paymentHash, { error, completedAt: this.outbox.now() });
  }

  /** The call ended with an error that says nothing of the payment: lightningd's record decides. */
  async unsure(e: unknown): Promise<void> {
    if (!this.paymentHash) return;
    const message = String((e as Error).message ?? e);
    await this.outbox.settle(this.paymentHash, () => ({ code: INTERNAL_ERROR, message }));
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
