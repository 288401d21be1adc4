import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { CONTINUE, type HtlcAcceptedRequest, type HtlcAcceptedResult } from '../cln/hook-types.js';
import { incorrectOrUnknownPaymentDetails } from '../onion/failure.js';
import type { Invoice, MessageStore, ReceivedMessage } from '../store/messages.js';
import { fromHex, toHex } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';
import { decodeHopPayload, stripLengthPrefix } from '../wire/hop-payload.js';

export interface ReceiverConfig {
  tlvType: bigint;
  maxMessageBytes: number;
  minAmountMsat: number;
  /** Least blocks left before the HTLC expires for lnmsg to settle it. */
  minFinalCltv: number;
  /** Blocks kept in hand when holding an HTLC for the payee's decision. */
  holdSafetyBlocks: number;
  /** Longest a held HTLC waits for accept/reject, in seconds. */
  holdTimeoutSeconds: number;
}

export const RECEIVER_DEFAULTS: Omit<ReceiverConfig, 'tlvType'> = {
  maxMessageBytes: 65536,
  minAmountMsat: 1,
  // Half of lightningd's default cltv-final (18): enough to settle, and settling is immediate.
  minFinalCltv: 9,
  holdSafetyBlocks: 6,
  holdTimeoutSeconds: 600,
};

export type Decision = { accept: true } | { accept: false; reason: string };

type Log = (level: 'debug' | 'info' | 'unusual' | 'broken', message: string) => void;

/**
 * The payee's side: hands out payment hashes, judges incoming HTLCs for them, stores each
 * message before its HTLC is settled, and lets callers wait for messages.
 */
export class Receiver {
  private readonly invoices = new Map<string, Invoice>();
  private readonly waiters = new Map<string, Set<(m: ReceivedMessage) => void>>();
  private readonly decisions = new Map<string, (d: Decision) => void>();
  private readonly listeners = new Set<(m: ReceivedMessage) => void>();

  constructor(
    private readonly store: MessageStore,
    readonly config: ReceiverConfig,
    private readonly log: Log = () => {},
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /** Loads the payment hashes handed out before a restart. */
  async load(): Promise<void> {
    for (const inv of await this.store.invoices()) this.invoices.set(inv.paymentHash, inv);
  }

  /** Called with every message stored (settled or held). */
  onMessage(listener: (m: ReceivedMessage) => void): void {
    this.listeners.add(listener);
  }

  async newInvoice(opts: { amountMsat?: number; label?: string; hold?: boolean }): Promise<Invoice> {
    const preimage = randomBytes(32);
    const inv: Invoice = {
      paymentHash: toHex(sha256(preimage)),
      preimage: toHex(preimage),
      amountMsat: opts.amountMsat ?? 0,
      label: opts.label,
      createdAt: this.now(),
      hold: opts.hold ?? false,
    };
    if (!(await this.store.addInvoice(inv)))
      throw new Error(`payment hash ${inv.paymentHash} already exists`);
    this.invoices.set(inv.paymentHash, inv);
    return inv;
  }

  isOurs(paymentHash: string): boolean {
    return this.invoices.has(paymentHash);
  }

  message(paymentHash: string): Promise<ReceivedMessage | undefined> {
    return this.store.message(paymentHash);
  }

  messages(): Promise<ReceivedMessage[]> {
    return this.store.messages();
  }

  /** Resolves with the message once it is stored, or undefined after `timeoutMs`. */
  async wait(paymentHash: string, timeoutMs: number): Promise<ReceivedMessage | undefined> {
    const existing = await this.store.message(paymentHash);
    if (existing) return existing;
    return new Promise((resolve) => {
      const set = this.waiters.get(paymentHash) ?? new Set();
      this.waiters.set(paymentHash, set);
      const done = (m: ReceivedMessage | undefined) => {
        clearTimeout(timer);
        set.delete(done);
        resolve(m);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      set.add(done);
    });
  }

  /** The payee's verdict on a held message. False if nothing is held under that hash. */
  decide(paymentHash: string, decision: Decision): boolean {
    const settle = this.decisions.get(paymentHash);
    if (!settle) return false;
    settle(decision);
    return true;
  }

  /** Judges one `htlc_accepted` request. Never throws for bad input: every path answers. */
  async onHtlcAccepted(req: HtlcAcceptedRequest): Promise<HtlcAcceptedResult> {
    const { htlc } = req;
    const inv = this.invoices.get(htlc.payment_hash);
    if (!inv) return CONTINUE;
    const height = htlc.cltv_expiry - htlc.cltv_expiry_relative;
    const refuse = (why: string): HtlcAcceptedResult => {
      this.log('info', `refusing HTLC ${htlc.short_channel_id}/${htlc.id} for ${htlc.payment_hash}: ${why}`);
      return {
        result: 'fail',
        failure_message: toHex(incorrectOrUnknownPaymentDetails(BigInt(htlc.amount_msat), height)),
      };
    };

    let payload: ReturnType<typeof decodeHopPayload>;
    try {
      payload = decodeHopPayload(stripLengthPrefix(fromHex(req.onion.payload)));
    } catch (e) {
      if (e instanceof CodecError) return refuse(`malformed payload: ${e.message}`);
      throw e;
    }
    // Our hash on an HTLC we should forward: not a payment to us, so lightningd decides.
    if (payload.shortChannelId !== undefined) return CONTINUE;

    const existing = await this.store.message(htlc.payment_hash);
    if (existing) return this.replayOrRefuse(existing, req, inv, refuse);

    if (htlc.amount_msat < inv.amountMsat)
      return refuse(`amount ${htlc.amount_msat} < ${inv.amountMsat} asked`);
    if (htlc.amount_msat < this.config.minAmountMsat) {
      return refuse(`amount ${htlc.amount_msat} < lnmsg-min-amount-msat ${this.config.minAmountMsat}`);
    }
    if (payload.amtToForward !== undefined && BigInt(htlc.amount_msat) < payload.amtToForward) {
      return refuse(`HTLC carries ${htlc.amount_msat} msat, the onion says ${payload.amtToForward}`);
    }
    if (htlc.cltv_expiry_relative < this.config.minFinalCltv) {
      return refuse(`expires in ${htlc.cltv_expiry_relative} blocks, needs ${this.config.minFinalCltv}`);
    }
    const record = payload.customRecords.find((r) => r.type === this.config.tlvType);
    if (!record) return refuse(`no message record (type ${this.config.tlvType})`);
    if (record.value.length > this.config.maxMessageBytes) {
      return refuse(
        `message of ${record.value.length} bytes > lnmsg-max-message-bytes ${this.config.maxMessageBytes}`,
      );
    }

    const msg: ReceivedMessage = {
      paymentHash: htlc.payment_hash,
      messageHex: toHex(record.value),
      tlvType: Number(this.config.tlvType),
      amountMsat: htlc.amount_msat,
      receivedAt: this.now(),
      htlcs: [{ channel: htlc.short_channel_id, id: htlc.id, amountMsat: htlc.amount_msat }],
      status: inv.hold ? 'held' : 'settled',
      spontaneous: false,
      label: inv.label,
    };
    // Stored first: once we resolve, the money is ours and the message must not be lost.
    if (!(await this.store.addMessage(msg))) {
      const raced = await this.store.message(htlc.payment_hash);
      return raced ? this.replayOrRefuse(raced, req, inv, refuse) : refuse('could not store the message');
    }
    this.announce(msg);
    return inv.hold ? this.hold(msg, req, inv, refuse) : { result: 'resolve', payment_key: inv.preimage };
  }

  private sameHtlc(m: ReceivedMessage, req: HtlcAcceptedRequest): boolean {
    return m.htlcs.some((h) => h.channel === req.htlc.short_channel_id && h.id === req.htlc.id);
  }

  /** lightningd replays unresolved HTLCs after a restart: the same HTLC gets the same answer. */
  private replayOrRefuse(
    m: ReceivedMessage,
    req: HtlcAcceptedRequest,
    inv: Invoice,
    refuse: (why: string) => HtlcAcceptedResult,
  ): HtlcAcceptedResult | Promise<HtlcAcceptedResult> {
    if (!this.sameHtlc(m, req)) return refuse('this payment hash was already paid');
    if (m.status === 'settled') return { result: 'resolve', payment_key: inv.preimage };
    if (m.status === 'rejected') return refuse(`the payee rejected it: ${m.rejectReason ?? ''}`);
    return this.hold(m, req, inv, refuse);
  }

  /** Keeps the HTLC until the payee decides or the deadline passes. */
  private async hold(
    m: ReceivedMessage,
    req: HtlcAcceptedRequest,
    inv: Invoice,
    refuse: (why: string) => HtlcAcceptedResult,
  ): Promise<HtlcAcceptedResult> {
    const blocksLeft = req.htlc.cltv_expiry_relative - this.config.holdSafetyBlocks;
    // Ten minutes a block is the chain's target; a faster chain only shortens our wait below this.
    const seconds = Math.max(0, Math.min(this.config.holdTimeoutSeconds, blocksLeft * 600));
    const decision = await new Promise<Decision>((resolve) => {
      const timer = setTimeout(
        () => resolve({ accept: false, reason: `no decision within ${seconds}s` }),
        seconds * 1000,
      );
      this.decisions.set(m.paymentHash, (d) => {
        clearTimeout(timer);
        resolve(d);
      });
    });
    this.decisions.delete(m.paymentHash);
    const status = decision.accept ? 'settled' : 'rejected';
    await this.store.updateMessage(m.paymentHash, (cur) => ({
      ...cur,
      status,
      rejectReason: decision.accept ? undefined : decision.reason,
    }));
    if (decision.accept) return { result: 'resolve', payment_key: inv.preimage };
    return refuse(`rejected: ${decision.reason}`);
  }

  private announce(m: ReceivedMessage): void {
    for (const w of this.waiters.get(m.paymentHash) ?? []) w(m);
    for (const l of this.listeners) l(m);
  }
}
