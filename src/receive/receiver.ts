import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { CONTINUE, type HtlcAcceptedRequest, type HtlcAcceptedResult } from '../cln/hook-types.js';
import { incorrectOrUnknownPaymentDetails } from '../onion/failure.js';
import {
  type HtlcRef,
  type Invoice,
  type KeptRecord,
  keptBytes,
  type ListIndex,
  type MessageStore,
  type NewMessage,
  type ReceivedMessage,
} from '../store/messages.js';
import { fromHex, toHex } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';
import { encodeRefusal, type RefusalCause } from '../wire/refusal.js';
import { type DecodedHopPayload, decodeHopPayload, stripLengthPrefix } from '../wire/hop-payload.js';
import {
  decodeChunk,
  decodeTimestamp,
  findRecord,
  RECORD,
  RESERVED_RECORDS,
  signedBytes,
  signedPaymentBytes,
} from '../wire/message-records.js';
import {
  type Answer,
  type Refused,
  type Completion,
  type Decision,
  MessageSet,
  type Part,
  type SetEffects,
} from './message-set.js';
import type { Decider } from './decider.js';
import type { CreatedInvoice, NodeInvoice } from './node-invoices.js';
import { RecordCapture } from './record-capture.js';
import { verifySenderSignature } from './signature.js';
import { lnmsgEvenRecords, stripRecords } from '../wire/strip-records.js';
import type { TlvRecord } from '../wire/tlv.js';

export type { Decision } from './message-set.js';

export interface ReceiverConfig {
  tlvType: bigint;
  /** This node's id: signatures cover it, so a message signed for someone else does not verify. */
  nodeId: Uint8Array;
  maxMessageBytes: number;
  minAmountMsat: number;
  /** Least blocks left before the HTLC expires for lnmsg to settle it. */
  minFinalCltv: number;
  /** Blocks kept in hand when holding an HTLC for a decision. */
  holdSafetyBlocks: number;
  /** Longest a held HTLC waits for accept/reject, in seconds. */
  holdTimeoutSeconds: number;
  /** How long the parts of a multi-part message wait for the rest. */
  mppTimeoutSeconds: number;
  /** Bytes of spontaneous (unsolicited) messages kept at most; past it new ones are refused. */
  maxStoredBytes: number;
  /** Whether spontaneous messages are taken at all. */
  spontaneous: 'accept' | 'refuse';
  /** How long a payment hash stays payable unless its maker says otherwise, in seconds. */
  expirySeconds: number;
  /** A signature whose timestamp is further than this from the arrival does not verify. */
  maxClockSkewSeconds: number;
  /** Decides every message before it settles (a local command or URL), if set. */
  decider?: Decider;
}

export const RECEIVER_DEFAULTS = {
  maxMessageBytes: 65536,
  minAmountMsat: 1,
  // Half of lightningd's default cltv-final (18): enough to settle, and settling is immediate.
  minFinalCltv: 9,
  holdSafetyBlocks: 6,
  holdTimeoutSeconds: 600,
  mppTimeoutSeconds: 60,
  maxStoredBytes: 64 * 1024 * 1024,
  spontaneous: 'accept' as const,
  // As lightningd's invoices.
  expirySeconds: 604_800,
  maxClockSkewSeconds: 600,
};

/** Longest a payment hash may stay payable: a year. */
export const MAX_EXPIRY_SECONDS = 31_536_000;

type Log = (level: 'debug' | 'info' | 'unusual' | 'broken', message: string) => void;

const MPP_TIMEOUT = Uint8Array.of(0x00, 0x17);
/** How many failed sets are remembered, so accept/reject on one can say why. */
const RECENT_FAILURES = 1000;
/** When lightningd has not said a payment lnmsg let through settled, lnmsg asks it. */
const CONFIRM_AFTER_MS = 30_000;
/** Ten minutes a block, the chain's target: a hold never outlives an HTLC's expiry at that rate. */
const BLOCK_MS = 600_000;

type Verdict = { ok: true; state: 'settled' | 'refused' };
export type DecideOutcome = Verdict | { ok: false; why: string };

/** What the payee asks of a payment hash it hands out. */
interface HashOptions {
  amountMsat?: number;
  label?: string;
  hold?: boolean;
  expirySeconds?: number;
}

/** lightningd's invoices: made with `invoice`, found by payment hash. */
export interface InvoiceBook {
  create(p: {
    amountMsat?: number;
    label: string;
    description: string;
    expirySeconds: number;
    preimage: string;
  }): Promise<CreatedInvoice>;
  find(paymentHash: string): Promise<NodeInvoice | undefined>;
}

/** Without lightningd (unit tests of the seed's flow): no invoice of its own is known. */
const NO_INVOICES: InvoiceBook = {
  create: () => Promise.reject(new Error('no lightningd to make invoices')),
  find: () => Promise.resolve(undefined),
};

/** The `invoice_payment` hook's answer: lightningd settles on continue. */
export type InvoicePaymentResult = { result: 'continue' | 'reject' } | { failure_message: string };

const REJECT: InvoicePaymentResult = { result: 'reject' };
const PASS: InvoicePaymentResult = { result: 'continue' };

/** A set of HTLCs in flight: lnmsg settles it with `preimage`, or lightningd does (an invoice). */
interface InFlight {
  set: MessageSet<DecodedHopPayload>;
  preimage?: Uint8Array;
  /** Block height when its first HTLC arrived, for failure messages. */
  height: number;
  /** Until when it may be held: the earliest of its HTLCs' deadlines. */
  holds: { untilMs: number };
}

/**
 * The payee's side: hands out payment hashes, judges incoming HTLCs for them (and spontaneous
 * keysend messages) through one `MessageSet` per payment, and lets callers wait and list.
 */
export class Receiver {
  /** The sets of HTLCs in flight, by payment hash, with the preimage that settles them. */
  private readonly sets = new Map<string, InFlight>();
  /** Custom records of payments lightningd settles, until it says they are whole. */
  private readonly captured: RecordCapture;
  private paidByNode: (hash: string) => Promise<boolean> = async () => false;
  private readonly failures = new Map<string, string>();
  private readonly listeners = new Set<(m: ReceivedMessage) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly store: MessageStore,
    readonly config: ReceiverConfig,
    private readonly log: Log = () => {},
    /** ms since 1970 */
    private readonly clock: () => number = Date.now,
    private readonly invoices: InvoiceBook = NO_INVOICES,
  ) {
    this.captured = new RecordCapture(undefined, clock);
  }

  private now(): number {
    return Math.floor(this.clock() / 1000);
  }

  /**
   * Opens the store. Messages held when lnmsg stopped wait `graceMs` for lightningd to replay
   * their HTLCs; those it does not replay were released meanwhile, and are written so (the
   * payment settled through another plugin only if `paidByNode` says so).
   */
  async open(graceMs = 0, paidByNode: (hash: string) => Promise<boolean> = async () => false): Promise<void> {
    await this.store.open();
    this.paidByNode = paidByNode;
    const held = await this.store.heldHashes();
    if (held.length > 0) this.after(graceMs, () => void this.reconcile(held));
  }

  /** Sweeps expired unpaid payment hashes now and then, telling `onSwept` how many went. */
  sweepEvery(ms: number, onSwept: (n: number) => void): void {
    this.after(ms, () => {
      void this.sweepExpired().then(
        (n) => n > 0 && onSwept(n),
        (e) => this.log('unusual', `sweeping expired payment hashes: ${(e as Error).message}`),
      );
      this.sweepEvery(ms, onSwept);
    });
  }

  /** Stops the receiver's timers (held sets keep theirs until they end). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Called with every message stored (settled or held); returns a function that unsubscribes. */
  onMessage(listener: (m: ReceivedMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A payment hash for the seed's flow: lnmsg settles it with the preimage it keeps. */
  async newInvoice(opts: HashOptions): Promise<Invoice & { preimage: string }> {
    const { inv, preimage } = await this.addHash(opts, (_, p) => ({ preimage: toHex(p) }));
    return { ...inv, preimage: toHex(preimage) };
  }

  /**
   * A BOLT 11 invoice of lightningd's for a message: lightningd checks its payment secret, amount
   * and expiry and settles it; lnmsg reads the message first and may hold or refuse it. lnmsg's
   * record of it is written before the invoice exists, so a crash between the two can only leave
   * a record without an invoice (swept at expiry), never an invoice that skips `hold`.
   */
  async newBolt11(opts: HashOptions & { description?: string }): Promise<CreatedInvoice & { label: string }> {
    const { inv, preimage } = await this.addHash(opts, (hash) => ({
      paymentSecret: '',
      label: opts.label ?? `lnmsg-${hash.slice(0, 16)}`,
    }));
    const label = inv.label as string;
    let made: CreatedInvoice;
    try {
      made = await this.invoices.create({
        amountMsat: opts.amountMsat || undefined,
        label,
        description: opts.description ?? 'a message by lnmsg',
        expirySeconds: opts.expirySeconds ?? this.config.expirySeconds,
        preimage: toHex(preimage),
      });
    } catch (e) {
      await this.store.deleteInvoice(inv);
      throw e;
    }
    await this.store.setInvoice({ ...inv, paymentSecret: made.payment_secret });
    return { ...made, label };
  }

  /**
   * Draws a preimage and writes lnmsg's record of its hash before anyone can pay it; `more` adds
   * what the kind of hash keeps (the seed's flow its preimage, an invoice its label and secret).
   */
  private async addHash(
    opts: HashOptions,
    more: (paymentHash: string, preimage: Uint8Array) => Partial<Invoice>,
  ): Promise<{ inv: Invoice; preimage: Uint8Array }> {
    const preimage = randomBytes(32);
    const paymentHash = toHex(sha256(preimage));
    const createdAt = this.now();
    const inv: Invoice = {
      paymentHash,
      amountMsat: opts.amountMsat ?? 0,
      label: opts.label,
      createdAt,
      hold: opts.hold ?? false,
      expiresAt: createdAt + (opts.expirySeconds ?? this.config.expirySeconds),
      ...more(paymentHash, preimage),
    };
    if (!(await this.store.addInvoice(inv))) throw new Error(`payment hash ${paymentHash} already exists`);
    return { inv, preimage };
  }

  async isOurs(paymentHash: string): Promise<boolean> {
    return (await this.store.invoice(paymentHash)) !== undefined;
  }

  message(paymentHash: string): Promise<ReceivedMessage | undefined> {
    return this.store.message(paymentHash);
  }

  list(index: ListIndex, start: number, limit: number): Promise<ReceivedMessage[]> {
    return this.store.list(index, start, limit);
  }

  /** Removes the unpaid payment hashes that expired before today. */
  sweepExpired(): Promise<number> {
    return this.store.sweepExpired(this.now());
  }

  /** Frees a stored message (never one held for a decision: decide first). */
  async delete(paymentHash: string): Promise<ReceivedMessage | undefined | 'held'> {
    if (this.sets.has(paymentHash) || (await this.store.message(paymentHash))?.status === 'held')
      return 'held';
    return this.store.deleteMessage(paymentHash);
  }

  /** The message for `paymentHash` once stored (or `any` next message), or undefined after `timeoutMs`. */
  async wait(paymentHash: string | 'any', timeoutMs: number): Promise<ReceivedMessage | undefined> {
    if (paymentHash !== 'any') {
      const existing = await this.store.message(paymentHash);
      // One lightningd is settling is announced once it did.
      if (existing && existing.status !== 'settling') return existing;
    }
    return new Promise((resolve) => {
      const stop = this.onMessage((m) => {
        if (paymentHash === 'any' || m.paymentHash === paymentHash) done(m);
      });
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (m: ReceivedMessage | undefined) => {
        clearTimeout(timer);
        stop();
        resolve(m);
      };
    });
  }

  /** The payee's verdict on a held message; says why when nothing is held under that hash. */
  async decide(paymentHash: string, decision: Decision): Promise<DecideOutcome> {
    const set = this.sets.get(paymentHash);
    if (set) return set.set.decide(decision);
    const m = await this.store.message(paymentHash);
    const failed = this.failures.get(paymentHash);
    if (!m && failed) return { ok: false, why: `its payment failed: ${failed}` };
    if (!m) return { ok: false, why: 'nothing is held under this payment hash' };
    if (m.status === 'settled') return { ok: false, why: 'it is already settled' };
    if (m.status === 'rejected') return { ok: false, why: `it was already refused: ${m.rejectReason ?? ''}` };
    return {
      ok: false,
      why: 'lightningd has not handed its HTLCs back since the restart yet; try again shortly',
    };
  }

  /** Judges one `htlc_accepted` request. Every path answers; bad input never throws. */
  async onHtlcAccepted(req: HtlcAcceptedRequest): Promise<HtlcAcceptedResult> {
    const { htlc } = req;
    const hash = htlc.payment_hash;
    // lightningd parsed a forwarding payload: not for us, and the fast path for forwards.
    if (req.onion.short_channel_id !== undefined) return CONTINUE;
    const height = htlc.cltv_expiry - htlc.cltv_expiry_relative;
    const refuse = (p: Problem, message?: Uint8Array): HtlcAcceptedResult => {
      this.log('info', `refusing HTLC ${htlc.short_channel_id}/${htlc.id} for ${hash}: ${p.why}`);
      return {
        result: 'fail',
        failure_message: toHex(message ?? refusalMessage(p, htlc.amount_msat, height)),
      };
    };

    let tlv: Uint8Array;
    let payload: DecodedHopPayload;
    try {
      tlv = stripLengthPrefix(fromHex(req.onion.payload));
      payload = decodeHopPayload(tlv, (t) => this.understands(t));
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      return (await this.isOurs(hash))
        ? refuse(problem('malformed', `malformed payload: ${e.message}`))
        : CONTINUE;
    }
    // Our hash on an HTLC we should forward: not a payment to us, so lightningd decides.
    if (payload.shortChannelId !== undefined) return CONTINUE;
    const chunkValue = findRecord(payload.customRecords, RECORD.chunk);
    const messageBytes = findRecord(payload.customRecords, this.config.tlvType);
    if (!chunkValue && !messageBytes) {
      // Not lnmsg's, never delayed: its records (a boostagram, say) are kept if lightningd settles it.
      this.captured.add(hash, payload.customRecords);
      return CONTINUE;
    }

    const ref: HtlcRef = { channel: htlc.short_channel_id, id: htlc.id, amountMsat: htlc.amount_msat };
    let part: Part<DecodedHopPayload> | undefined;
    try {
      part = partOf(ref, payload, chunkValue, messageBytes);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      return (await this.isOurs(hash)) ? refuse(problem('malformed', `bad chunk: ${e.message}`)) : CONTINUE;
    }
    // lightningd settles an invoice's HTLCs: it gets the payload without the even records it cannot read.
    const handOn = (): HtlcAcceptedResult => ({
      result: 'continue',
      payload: toHex(stripRecords(tlv, lnmsgEvenRecords(this.config.tlvType))),
    });
    let entry = this.sets.get(hash);
    // A new HTLC (not a replay into a set in memory): is the hash ours, paid, held?
    if (!entry?.set.knows(ref)) {
      const [inv, stored] = await Promise.all([this.store.invoice(hash), this.store.message(hash)]);
      const preimage = inv?.preimage ? fromHex(inv.preimage) : this.keysendPreimage(payload, hash);
      const billed = preimage ? undefined : await this.billOf(hash, inv);
      // Addressed to lnmsg (its records), but a hash it never made, no invoice and no keysend: say
      // so, rather than leave lightningd to fail the unreadable payload as if lnmsg were not here.
      // A payer without the invoice's secret (a node on the route, say) learns no more than that.
      if (!preimage && !billed) return refuse(problem('unknown_hash', 'this payment hash is unknown here'));
      if (billed && !sameSecret(payload, billed.paymentSecret ?? ''))
        return refuse(problem('unknown_hash', "a part without the invoice's payment secret"));
      entry = this.sets.get(hash);
      if (!entry && stored) {
        if (!stored.htlcs.some((h) => h.channel === ref.channel && h.id === ref.id)) {
          return refuse(problem('already_paid', 'this payment hash was already paid'));
        }
        // lightningd replays unresolved HTLCs after a restart: the same HTLC gets the same answer.
        this.background(this.store.reindex(stored), 'indexing a replayed message');
        if (stored.status === 'rejected') {
          return refuse(
            problem('refused', `the payee refused it: ${stored.rejectReason ?? ''}`, stored.rejectReason),
          );
        }
        if (stored.status !== 'held') return preimage ? resolve(preimage) : handOn();
        entry = this.restore(stored, billed ?? inv, preimage, height);
      }
      if (!entry?.set.knows(ref)) {
        const p = this.partProblem(req, payload, billed ?? inv, part, chunkValue !== undefined, !billed);
        if (p) return refuse(p);
      }
      if (!entry) {
        const holds = { untilMs: this.holdUntil(req) };
        const fx = this.effects(hash, billed ?? inv, () => holds.untilMs, preimage === undefined);
        entry = { set: new MessageSet(hash, fx), preimage, height, holds };
        this.sets.set(hash, entry);
        this.failures.delete(hash);
      }
      // A hold must end before the first of its HTLCs expires.
      entry.holds.untilMs = Math.min(entry.holds.untilMs, this.holdUntil(req));
    }
    if (!entry.preimage) {
      const alone = entry.set.join(part);
      return alone ? refuse(answerProblem(alone)) : handOn();
    }
    const answer = await this.answerOf(entry.set, part);
    if (answer.settle) return resolve(entry.preimage);
    return refuse(answerProblem(answer), answer.timeout ? MPP_TIMEOUT : undefined);
  }

  /**
   * lightningd's `invoice_payment` hook: the whole amount of one of its invoices is in. A message
   * on it is checked, stored and decided now; other custom records are stored as the payment's
   * data. Either is written before lightningd settles, and `settled` only once it did.
   */
  async onInvoicePayment(p: {
    label: string;
    preimage: string;
    msat: number;
  }): Promise<InvoicePaymentResult> {
    const hash = toHex(sha256(fromHex(p.preimage)));
    const records = this.captured.take(hash);
    const entry = this.sets.get(hash);
    if (entry && !entry.preimage) {
      const answer = await this.answerOf(entry.set, undefined);
      if (answer.settle) {
        // Should the notification not come (another plugin refused the payment after lnmsg), ask.
        this.after(CONFIRM_AFTER_MS, () => void this.checkSettled(hash));
        return PASS;
      }
      this.log('info', `refusing the payment of invoice ${p.label} (${hash}): ${answer.reason}`);
      const message = answer.timeout
        ? MPP_TIMEOUT
        : refusalMessage(answerProblem(answer), p.msat, entry.height);
      return { failure_message: toHex(message) };
    }
    const stored = await this.store.message(hash);
    // A set that ended before lightningd had the whole amount (its part timer ran out, say).
    if (stored?.status === 'rejected' || (!stored && this.failures.has(hash))) return REJECT;
    if (!stored && records) await this.keepPaymentData(hash, p, records);
    return PASS;
  }

  /** lightningd's `invoice_payment` notification: the payment settled. */
  async onInvoicePaid(p: { preimage: string }): Promise<void> {
    const hash = toHex(sha256(fromHex(p.preimage)));
    await this.confirmSettled(hash);
  }

  /** Offers a part; once its set has ended, forgets it (the store answers from then on). */
  private async answerOf(
    set: MessageSet<DecodedHopPayload>,
    part: Part<DecodedHopPayload> | undefined,
  ): Promise<Answer> {
    // No part: lightningd has the whole amount of the set's invoice.
    const answer = await (part ? set.offer(part) : set.paid());
    if (set.ended && this.sets.get(set.paymentHash)?.set === set) {
      this.sets.delete(set.paymentHash);
      if (set.refusal !== undefined) this.remember(set.paymentHash, set.refusal);
    }
    return answer;
  }

  private remember(hash: string, reason: string): void {
    this.failures.set(hash, reason);
    if (this.failures.size > RECENT_FAILURES)
      this.failures.delete(this.failures.keys().next().value as string);
  }

  /** Why this HTLC cannot be (part of) a message, before it joins a set. */
  private partProblem(
    req: HtlcAcceptedRequest,
    payload: DecodedHopPayload,
    inv: Invoice | undefined,
    part: Part<DecodedHopPayload>,
    isPiece: boolean,
    /** False on an invoice: lightningd checks what the parts add up to. */
    checkAmount = true,
  ): Problem | undefined {
    const { htlc } = req;
    if (!inv && this.config.spontaneous === 'refuse')
      return problem('no_spontaneous', 'this node does not take spontaneous messages');
    if (!inv && isPiece) return problem('malformed', 'spontaneous messages are single-part');
    if (inv?.expiresAt !== undefined && this.now() > inv.expiresAt)
      return problem('expired', 'this payment hash has expired');
    if (payload.amtToForward !== undefined && BigInt(htlc.amount_msat) < payload.amtToForward) {
      return problem(
        'malformed',
        `HTLC carries ${htlc.amount_msat} msat, the onion says ${payload.amtToForward}`,
      );
    }
    if (htlc.cltv_expiry_relative < this.config.minFinalCltv) {
      return problem(
        'expiry_too_soon',
        `expires in ${htlc.cltv_expiry_relative} blocks, needs ${this.config.minFinalCltv}`,
      );
    }
    // A piece states the whole message's size: too large is refused at the first part, not the last.
    return (
      this.sizeProblem(part.total) ??
      (isPiece || !checkAmount ? undefined : this.amountProblem(htlc.amount_msat, inv))
    );
  }

  /** Ms since 1970 until which this HTLC may be held, keeping `holdSafetyBlocks` in hand. */
  private holdUntil(req: HtlcAcceptedRequest): number {
    return this.clock() + (req.htlc.cltv_expiry_relative - this.config.holdSafetyBlocks) * BLOCK_MS;
  }

  /** What the set of `hash` does when complete and when decided: the store is written first each time. */
  private effects(
    hash: string,
    inv: Invoice | undefined,
    holdUntilMs: () => number,
    byInvoice: boolean,
  ): SetEffects<DecodedHopPayload> {
    // lightningd fails an invoice's payment that it settles after the invoice expired.
    const until = () =>
      byInvoice && inv?.expiresAt ? Math.min(holdUntilMs(), inv.expiresAt * 1000) : holdUntilMs();
    return {
      complete: (parts, message) => this.completeMessage(hash, parts, message, inv, until(), byInvoice),
      settledByInvoice: byInvoice,
      finish: async (d) => {
        await this.store.updateMessage(hash, (m) => ({
          ...m,
          status: d.accept ? (byInvoice ? 'settling' : 'settled') : 'rejected',
          ...(d.accept ? {} : { rejectReason: d.reason }),
          deadline: undefined,
        }));
      },
      after: (ms, fn) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
      now: this.clock,
      partTimeoutMs: this.config.mppTimeoutSeconds * 1000,
      log: (m) => this.log('broken', m),
    };
  }

  /** A complete message: checked, counted against the budget if spontaneous, stored, then held or settled. */
  private async completeMessage(
    hash: string,
    parts: Part<DecodedHopPayload>[],
    message: Uint8Array,
    inv: Invoice | undefined,
    holdUntilMs: number,
    byInvoice: boolean,
  ): Promise<Completion> {
    const first = parts[0] as Part<DecodedHopPayload>;
    const received = parts.reduce((n, p) => n + p.htlc.amountMsat, 0);
    const p =
      (BigInt(received) < first.totalMsat
        ? problem('amount_too_low', `parts carry ${received} msat of ${first.totalMsat}`)
        : undefined) ??
      this.amountProblem(received, inv) ??
      this.sizeProblem(message.length);
    if (p) return { kind: 'refuse', reason: p.why, cause: p.cause };
    const records = keptRecords(first.context.customRecords, this.config.tlvType);
    const size = keptBytes({ messageHex: toHex(message), records });
    if (!inv && !this.store.reserveSpontaneous(size, this.config.maxStoredBytes)) {
      return {
        kind: 'refuse',
        reason: 'the payee keeps no more spontaneous messages (lnmsg-max-stored-bytes)',
        cause: 'storage_full',
      };
    }
    const decideBy = inv?.hold ? 'operator' : this.config.decider ? 'decider' : undefined;
    const deadlineMs = Math.min(holdUntilMs, this.clock() + this.config.holdTimeoutSeconds * 1000);
    const msg: NewMessage = {
      paymentHash: hash,
      messageHex: toHex(message),
      ...(records.length > 0 ? { records } : {}),
      tlvType: Number(this.config.tlvType),
      amountMsat: received,
      receivedAt: this.now(),
      htlcs: parts.map((p) => p.htlc),
      status: decideBy ? 'held' : byInvoice ? 'settling' : 'settled',
      spontaneous: !inv,
      ...(byInvoice ? { viaInvoice: true } : {}),
      label: inv?.label,
      ...this.senderOf(first.context, message, hash),
      ...(decideBy ? { decideBy, deadline: Math.floor(deadlineMs / 1000) } : {}),
    };
    let stored: ReceivedMessage | undefined;
    try {
      stored = await this.store.addMessage(msg);
    } finally {
      if (!stored && !inv) await this.store.releaseSpontaneous(size);
    }
    if (!stored)
      return { kind: 'refuse', reason: 'a message is already stored for this hash', cause: 'already_paid' };
    // A message lightningd settles is announced once it did (`confirmSettled`).
    if (stored.status !== 'settling') for (const l of this.listeners) l(stored);
    if (!decideBy) return { kind: 'settle' };
    return { kind: 'hold', deadlineMs, decider: this.deciderFor(stored, decideBy) };
  }

  private deciderFor(m: ReceivedMessage, decideBy: ReceivedMessage['decideBy']) {
    const { decider } = this.config;
    return decideBy === 'decider' && decider ? (deadlineMs: number) => decider(m, deadlineMs) : undefined;
  }

  /** A message held when lnmsg stopped, whose HTLCs lightningd now replays. */
  private restore(
    m: ReceivedMessage,
    inv: Invoice | undefined,
    preimage: Uint8Array | undefined,
    height: number,
  ) {
    const deadlineMs = (m.deadline ?? this.now() + this.config.holdTimeoutSeconds) * 1000;
    const decideBy = m.decideBy ?? (inv?.hold ? 'operator' : 'decider');
    const fx = this.effects(m.paymentHash, inv, () => deadlineMs, preimage === undefined);
    const decider = this.deciderFor(m, decideBy);
    // Held for a decider that is no longer configured: nothing is left to refuse it, so it settles.
    const settle = decideBy === 'decider' && !decider ? async () => ({ accept: true as const }) : decider;
    const entry = {
      set: MessageSet.restored(m.paymentHash, m.htlcs, deadlineMs, fx, settle),
      preimage,
      height,
      holds: { untilMs: deadlineMs },
    };
    this.sets.set(m.paymentHash, entry);
    return entry;
  }

  /**
   * Held and settling messages after a start: those whose HTLCs did not come back were released
   * while lnmsg was away (settled only if lightningd says so), and lightningd's notification of a
   * settled invoice may have been missed.
   */
  private async reconcile(held: string[]): Promise<void> {
    for (const hash of held) {
      if (this.sets.has(hash)) continue;
      try {
        const m = await this.store.message(hash);
        if (m?.status !== 'held' && m?.status !== 'settling') {
          await this.store.forgetHeld(hash);
          continue;
        }
        const paid = await this.paidByNode(hash);
        this.log(
          'unusual',
          `${m.status} message ${hash} lost its HTLCs while lnmsg was not running: ${paid ? 'settled' : 'refunded'}`,
        );
        await this.settleOrRelease(m, paid);
      } catch (e) {
        this.log('broken', `could not settle the record of held message ${hash}: ${(e as Error).message}`);
      }
    }
  }

  /** A settling message: settled once lightningd says so (its notification, or its invoice list). */
  private async confirmSettled(hash: string): Promise<void> {
    const m = await this.store.message(hash);
    if (m?.status === 'settling') await this.settleOrRelease(m, true);
  }

  /**
   * Writes what became of a message whose HTLCs lnmsg no longer holds: settled, or refunded
   * (then the records of a payment that was not a message are not kept: they never settled).
   */
  private async settleOrRelease(m: ReceivedMessage, paid: boolean): Promise<void> {
    if (!paid && m.messageHex === '') {
      await this.store.deleteMessage(m.paymentHash);
      return;
    }
    const after = await this.store.updateMessage(m.paymentHash, (cur) => ({
      ...cur,
      status: paid ? 'settled' : 'rejected',
      ...(paid
        ? {}
        : { rejectReason: 'its HTLCs were released while lnmsg was not running (the payer was refunded)' }),
      deadline: undefined,
    }));
    if (after?.status === 'settled' && m.status === 'settling') for (const l of this.listeners) l(after);
  }

  /**
   * The custom records of a payment lightningd settles (not an lnmsg message: a boostagram, an
   * LND payer's records), written before it settles; a keysend's count against the budget.
   */
  private async keepPaymentData(
    hash: string,
    p: { label: string; msat: number },
    all: TlvRecord[],
  ): Promise<void> {
    const records = keptRecords(all, this.config.tlvType);
    if (records.length === 0) return;
    const spontaneous = all.some((r) => r.type === RECORD.keysendPreimage);
    const size = keptBytes({ messageHex: '', records });
    if (spontaneous && !this.store.reserveSpontaneous(size, this.config.maxStoredBytes)) {
      this.log('unusual', `not keeping the records of keysend ${hash}: lnmsg-max-stored-bytes is reached`);
      return;
    }
    const stored = await this.store.addMessage({
      paymentHash: hash,
      messageHex: '',
      records,
      tlvType: Number(this.config.tlvType),
      amountMsat: p.msat,
      receivedAt: this.now(),
      htlcs: [],
      status: 'settling',
      spontaneous,
      ...(spontaneous ? {} : { viaInvoice: true }),
      label: p.label,
    });
    if (!stored && spontaneous) await this.store.releaseSpontaneous(size);
    this.after(CONFIRM_AFTER_MS, () => void this.checkSettled(hash));
  }

  /** A message still settling long after lnmsg let it through: lightningd's invoice says what became of it. */
  private async checkSettled(hash: string): Promise<void> {
    try {
      const m = await this.store.message(hash);
      if (m?.status === 'settling') await this.settleOrRelease(m, await this.paidByNode(hash));
    } catch (e) {
      this.log('unusual', `checking payment ${hash}: ${(e as Error).message}`);
    }
  }

  /**
   * The invoice an HTLC pays through lightningd, with its payment secret: one lnmsg made, or any
   * of lightningd's own (a payer may add a message to an ordinary invoice).
   */
  private async billOf(hash: string, inv: Invoice | undefined): Promise<Invoice | undefined> {
    if (inv?.paymentSecret) return inv;
    let found: NodeInvoice | undefined;
    try {
      found = await this.invoices.find(hash);
    } catch (e) {
      this.log('unusual', `looking up lightningd's invoice for ${hash}: ${(e as Error).message}`);
      return undefined;
    }
    if (!found || found.status === 'expired') return undefined;
    return {
      paymentHash: hash,
      paymentSecret: toHex(found.paymentSecret),
      amountMsat: inv?.amountMsat ?? 0,
      label: found.label,
      createdAt: inv?.createdAt ?? 0,
      hold: inv?.hold ?? false,
      expiresAt: found.expiresAt,
    };
  }

  /** Store work no HTLC waits for: logged if it fails, never thrown into a hook. */
  private background(work: Promise<unknown>, what: string): void {
    work.catch((e: unknown) => this.log('unusual', `${what}: ${(e as Error).message}`));
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /** Custom records lnmsg reads; an unknown even one makes the payload one lnmsg must not accept (BOLT 1). */
  private understands(type: bigint): boolean {
    return type % 2n === 1n || type === this.config.tlvType || RESERVED_RECORDS.has(type);
  }

  /** A keysend's preimage, if the payload carries one that matches. */
  private keysendPreimage(payload: DecodedHopPayload, paymentHash: string): Uint8Array | undefined {
    const preimage = findRecord(payload.customRecords, RECORD.keysendPreimage);
    return preimage?.length === 32 && toHex(sha256(preimage)) === paymentHash ? preimage : undefined;
  }

  /** Too little paid: the payer is told the least the payee takes. */
  private amountProblem(amountMsat: number, inv: Invoice | undefined): Problem | undefined {
    const least = Math.max(inv?.amountMsat ?? 0, this.config.minAmountMsat);
    return amountMsat < least
      ? problem('amount_too_low', `amount ${amountMsat} < ${least} msat asked`, `at least ${least} msat`)
      : undefined;
  }

  /** Too large: the payer is told the payee's limit. */
  private sizeProblem(bytes: number): Problem | undefined {
    const max = this.config.maxMessageBytes;
    return bytes > max
      ? problem(
          'too_large',
          `message of ${bytes} bytes > lnmsg-max-message-bytes ${max}`,
          `at most ${max} bytes`,
        )
      : undefined;
  }

  /**
   * The sender's id, if given; whether its signature holds, over this payment (lnmsg's form) or
   * over the message alone (other tools' form); and its timestamp, which must be near the arrival.
   */
  private senderOf(
    payload: DecodedHopPayload,
    message: Uint8Array,
    paymentHash: string,
  ): Pick<ReceivedMessage, 'sender' | 'verified' | 'signedPayment' | 'sentAt' | 'verifyProblem'> {
    const sender = findRecord(payload.customRecords, RECORD.sender);
    if (!sender) return {};
    const signature = findRecord(payload.customRecords, RECORD.signature);
    const timestamp = findRecord(payload.customRecords, RECORD.timestamp);
    const unverified = (verifyProblem: string, sentAt?: number) => ({
      sender: toHex(sender),
      verified: false,
      verifyProblem,
      ...(sentAt === undefined ? {} : { sentAt }),
    });
    if (!signature) return unverified('no signature');
    if (timestamp?.length !== 8) return unverified('no 8-byte timestamp');
    const ns = decodeTimestamp(timestamp);
    const sentAt = Number(ns / 1_000_000_000n);
    const me = this.config.nodeId;
    const signedPayment = verifySenderSignature(
      signature,
      sender,
      signedPaymentBytes(sender, me, fromHex(paymentHash), ns, message),
    );
    if (!signedPayment && !verifySenderSignature(signature, sender, signedBytes(sender, me, ns, message))) {
      return unverified('the signature does not match', sentAt);
    }
    const skew = Math.abs(this.now() - sentAt);
    if (skew > this.config.maxClockSkewSeconds) {
      return unverified(
        `signed ${skew} s away from its arrival (more than ${this.config.maxClockSkewSeconds} s)`,
        sentAt,
      );
    }
    return { sender: toHex(sender), verified: true, signedPayment, sentAt };
  }
}

/** Why an HTLC is refused: `why` for the payee's log, `cause` and `reason` for the payer. */
interface Problem {
  cause: RefusalCause;
  why: string;
  reason?: string;
}

function problem(cause: RefusalCause, why: string, reason?: string): Problem {
  return { cause, why, ...(reason ? { reason } : {}) };
}

/** incorrect_or_unknown_payment_details with the cause (and, where it is the payee's to give, a reason) after BOLT 4's fields. */
function refusalMessage(p: Problem, amountMsat: number, height: number): Uint8Array {
  const refusal = encodeRefusal({ cause: p.cause, ...(p.reason ? { reason: p.reason } : {}) });
  return incorrectOrUnknownPaymentDetails(BigInt(amountMsat), height, refusal);
}

/** A refused set's answer as a problem: a decision's reason travels to the payer, others only with their cause. */
function answerProblem(a: Refused): Problem {
  return problem(a.cause, a.reason, a.told);
}

/** Whether the HTLC carries the invoice's payment secret (compared in constant time). */
function sameSecret(payload: DecodedHopPayload, secretHex: string): boolean {
  const given = payload.paymentData?.paymentSecret;
  return given !== undefined && given.length === 32 && timingSafeEqual(given, fromHex(secretHex));
}

/** A payment's custom records as kept: all but lnmsg's message and pieces (kept as the message) and a keysend's preimage. */
function keptRecords(records: readonly TlvRecord[], tlvType: bigint): KeptRecord[] {
  return records
    .filter((r) => r.type !== tlvType && r.type !== RECORD.chunk && r.type !== RECORD.keysendPreimage)
    .map((r) => ({ type: r.type.toString(), value: toHex(r.value) }));
}

function resolve(preimage: Uint8Array): HtlcAcceptedResult {
  return { result: 'resolve', payment_key: toHex(preimage) };
}

/** One HTLC as a part of its message: a chunk of a multi-part message, or the whole of a single one. */
function partOf(
  htlc: HtlcRef,
  payload: DecodedHopPayload,
  chunkValue: Uint8Array | undefined,
  messageBytes: Uint8Array | undefined,
): Part<DecodedHopPayload> {
  const totalMsat = payload.paymentData?.totalMsat ?? 0n;
  if (chunkValue) {
    const { token, ...c } = decodeChunk(chunkValue);
    return { htlc, ...c, secret: token, totalMsat, context: payload };
  }
  const data = messageBytes as Uint8Array;
  return {
    htlc,
    offset: 0,
    total: data.length,
    data,
    messageId: sha256(data).subarray(0, 16),
    secret: payload.paymentData?.paymentSecret ?? new Uint8Array(0),
    totalMsat,
    context: payload,
  };
}
