import { sha256 } from '@noble/hashes/sha2.js';
import { CONTINUE, type HtlcAcceptedRequest, type HtlcAcceptedResult } from '../cln/hook-types.js';
import type { HtlcRef, Invoice, ListIndex, MessageStore, ReceivedMessage } from '../store/messages.js';
import { fromHex, toHex } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';
import { type DecodedHopPayload, decodeHopPayload, stripLengthPrefix } from '../wire/hop-payload.js';
import { findRecord, RECORD, RESERVED_RECORDS } from '../wire/message-records.js';
import { lnmsgEvenRecords, stripRecords } from '../wire/strip-records.js';
import type { ReceiverConfig } from './config.js';
import { MessageEffects } from './effects.js';
import { type HashOptions, Hashes, type InvoiceBook, NO_INVOICES } from './hashes.js';
import { type Answer, type Decision, MessageSet, type Part } from './message-set.js';
import type { CreatedInvoice } from './node-invoices.js';
import { keysendPreimage, partOf } from './parts.js';
import { PaymentData } from './payment-data.js';
import {
  answerProblem,
  partProblem,
  type Problem,
  problem,
  refusalMessage,
  unknownPayment,
} from './problems.js';
import { type Payee, provenPayee } from './proof.js';
import { Settlements } from './settlement.js';

export type { Decision } from './message-set.js';

type Log = (level: 'debug' | 'info' | 'unusual' | 'broken', message: string) => void;

const MPP_TIMEOUT = Uint8Array.of(0x00, 0x17);
/** How many failed sets are remembered, so accept/reject on one can say why. */
const RECENT_FAILURES = 1000;
/** Ten minutes a block, the chain's target: a hold never outlives an HTLC's expiry at that rate. */
const BLOCK_MS = 600_000;

type Verdict = { ok: true; state: 'settled' | 'refused' };
export type DecideOutcome = Verdict | { ok: false; why: string };

/** The `invoice_payment` hook's answer: lightningd settles on continue. */
export type InvoicePaymentResult = { result: 'continue' | 'reject' } | { failure_message: string };

/** The HTLCs of one message in flight, held until their set's fate, and whom they pay. */
interface InFlight {
  set: MessageSet<DecodedHopPayload>;
  payee: Payee;
  /** Until when it may be held: the earliest of its HTLCs' deadlines. */
  holds: { untilMs: number };
}

/**
 * The payee's side: hands out payment hashes, judges incoming HTLCs that carry lnmsg's records
 * through one `MessageSet` per payment (each held until its fate), keeps the records of payments
 * lightningd settles, and lets callers wait, list and decide.
 */
export class Receiver {
  private readonly sets = new Map<string, InFlight>();
  /** HTLCs with lnmsg's records being judged, by hash: lightningd has not seen them yet. */
  private readonly judging = new Map<string, number>();
  private readonly hashes: Hashes;
  private readonly paymentData: PaymentData;
  private readonly settlements: Settlements;
  private readonly effects: MessageEffects;
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
    this.hashes = new Hashes(store, invoices, config.expirySeconds, () => this.now());
    this.settlements = new Settlements({
      store,
      settlement: (hash) => invoices.settlement(hash),
      log,
      announce: (m) => this.announce(m),
      after: (ms, fn) => this.after(ms, fn),
    });
    this.effects = new MessageEffects({
      store,
      config,
      clock,
      announce: (m) => this.announce(m),
      settling: (hash) => this.settlements.watch(hash),
      log: (m) => log('broken', m),
    });
    this.paymentData = new PaymentData({
      store,
      invoices,
      config,
      clock,
      log,
      settling: (hash) => this.settlements.watch(hash),
    });
  }

  private now(): number {
    return Math.floor(this.clock() / 1000);
  }

  /**
   * Opens the store. Messages held or settling when lnmsg stopped wait `graceMs` for lightningd
   * to replay their HTLCs; then lightningd's own state says what became of the others.
   */
  async open(graceMs = 0): Promise<void> {
    await this.store.open();
    const held = await this.store.heldHashes();
    if (held.length === 0) return;
    void this.settlements.settledMeanwhile(held);
    this.after(graceMs, () => void this.settlements.reconcile(held, (h) => this.sets.has(h)));
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
  newInvoice(opts: HashOptions): Promise<Invoice & { preimage: string }> {
    return this.hashes.newHash(opts);
  }

  /** A BOLT 11 invoice of lightningd's for a message: every part must carry its payment secret. */
  newBolt11(opts: HashOptions & { description?: string }): Promise<CreatedInvoice & { label: string }> {
    return this.hashes.newBolt11(opts);
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
    if (m.status === 'settling') return { ok: false, why: 'it was accepted; lightningd is settling it' };
    return {
      ok: false,
      why: 'lightningd has not handed its HTLCs back since the restart yet; try again shortly',
    };
  }

  /**
   * Judges one `htlc_accepted` request. Every path answers; bad input never throws. HTLCs without
   * lnmsg's records go on at once, with no RPC on their way.
   */
  async onHtlcAccepted(req: HtlcAcceptedRequest): Promise<HtlcAcceptedResult> {
    const { htlc } = req;
    const hash = htlc.payment_hash;
    // lightningd parsed a forwarding payload: not for us, and the fast path for forwards.
    if (req.onion.short_channel_id !== undefined) return CONTINUE;
    let tlv: Uint8Array;
    let payload: DecodedHopPayload;
    try {
      tlv = stripLengthPrefix(fromHex(req.onion.payload));
      payload = decodeHopPayload(tlv, (t) => this.understands(t));
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      // Unreadable whatever the hash: lightningd fails it as it would without lnmsg.
      return CONTINUE;
    }
    // Our hash on an HTLC we should forward: not a payment to us, so lightningd decides.
    if (payload.shortChannelId !== undefined) return CONTINUE;
    const chunkValue = findRecord(payload.customRecords, RECORD.chunk);
    const messageBytes = findRecord(payload.customRecords, this.config.tlvType);
    if (!chunkValue && !messageBytes) {
      this.paymentData.seen(hash, htlc.amount_msat, payload, keysendPreimage(payload, hash) !== undefined);
      return CONTINUE;
    }
    this.judging.set(hash, (this.judging.get(hash) ?? 0) + 1);
    try {
      return await this.judge(req, tlv, payload, chunkValue, messageBytes);
    } finally {
      const n = (this.judging.get(hash) ?? 1) - 1;
      if (n > 0) this.judging.set(hash, n);
      else this.judging.delete(hash);
    }
  }

  /** An HTLC carrying lnmsg's records: who it proves it pays, then its part in that payment's set. */
  private async judge(
    req: HtlcAcceptedRequest,
    tlv: Uint8Array,
    payload: DecodedHopPayload,
    chunkValue: Uint8Array | undefined,
    messageBytes: Uint8Array | undefined,
  ): Promise<HtlcAcceptedResult> {
    const { htlc } = req;
    const hash = htlc.payment_hash;
    const height = htlc.cltv_expiry - htlc.cltv_expiry_relative;
    const ref: HtlcRef = { channel: htlc.short_channel_id, id: htlc.id, amountMsat: htlc.amount_msat };
    const fail = (why: string): HtlcAcceptedResult => {
      this.log('info', `refusing HTLC ${ref.channel}/${ref.id} for ${hash}: ${why}`);
      return { result: 'fail', failure_message: toHex(unknownPayment(htlc.amount_msat, height)) };
    };
    const refuse = (p: Problem, message?: Uint8Array): HtlcAcceptedResult => {
      this.log('info', `refusing HTLC ${ref.channel}/${ref.id} for ${hash}: ${p.why}`);
      return {
        result: 'fail',
        failure_message: toHex(message ?? refusalMessage(p, htlc.amount_msat, height)),
      };
    };
    // lightningd settles an invoice's HTLCs: it gets the payload without the even records it cannot read.
    const letThrough = (payee: Payee): HtlcAcceptedResult =>
      payee.kind === 'invoice'
        ? { result: 'continue', payload: toHex(stripRecords(tlv, lnmsgEvenRecords(this.config.tlvType))) }
        : { result: 'resolve', payment_key: toHex(payee.preimage) };

    let part: Part<DecodedHopPayload> | CodecError;
    try {
      part = partOf(ref, payload, chunkValue, messageBytes);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      part = e;
    }
    let entry = this.sets.get(hash);
    if (part instanceof CodecError || !entry?.set.knows(ref)) {
      let payee: Payee | undefined;
      try {
        payee = await provenPayee(hash, payload, {
          ours: (h) => this.store.invoice(h),
          node: (h) => this.invoices.find(h),
        });
      } catch (e) {
        return fail(`could not look the payment hash up: ${(e as Error).message}`);
      }
      if (!payee) return fail('it proves no payment of this node (no invoice secret, hash or keysend)');
      if (part instanceof CodecError) return refuse(problem('malformed', `bad chunk: ${part.message}`));
      const [stored, deleted] = await Promise.all([
        this.store.message(hash),
        payee.kind === 'invoice' ? false : this.store.wasPaid(hash),
      ]);
      // Paid (its preimage public), then deleted: proves nothing any more.
      if (deleted && !stored) return fail('this hash was paid before (its message was deleted since)');
      entry = this.sets.get(hash);
      if (!entry && stored && stored.status !== 'rejected' && !hasHtlc(stored, ref)) {
        // A preimage is public once paid: a keysend on a paid hash proves nothing.
        if (payee.kind === 'keysend') return fail('this keysend hash was already paid');
        return refuse(problem('already_paid', 'this payment hash was already paid'));
      }
      if (payee.kind === 'invoice' && payee.paid)
        return refuse(problem('already_paid', 'lightningd has this invoice paid'));
      if (!entry && stored && hasHtlc(stored, ref)) {
        // lightningd replays unresolved HTLCs after a restart: the same HTLC gets the same answer.
        this.background(this.store.reindex(stored), 'indexing a replayed message');
        if (stored.status === 'rejected') {
          const why = stored.rejectReason ?? '';
          return refuse(problem('refused', `the payee refused it: ${why}`, stored.rejectReason));
        }
        if (stored.status !== 'held') return letThrough(payee);
        entry = this.restore(stored, payee, req);
      }
      if (!entry?.set.knows(ref)) {
        const p = partProblem(req, payload, payee, part, chunkValue !== undefined, this.config, this.now());
        if (p) return refuse(p);
      }
      if (!entry) {
        const holds = { untilMs: this.holdUntil(req) };
        entry = {
          set: new MessageSet(
            hash,
            this.effects.of(hash, payee, () => holds.untilMs),
          ),
          payee,
          holds,
        };
        this.sets.set(hash, entry);
        this.failures.delete(hash);
      }
      // A hold must end before the first of its HTLCs expires.
      entry.holds.untilMs = Math.min(entry.holds.untilMs, this.holdUntil(req));
    }
    // A new part of the set, or one it knows (a replay): the set's answer.
    const answer = await this.answerOf(entry.set, part);
    if (answer.settle) return letThrough(entry.payee);
    return refuse(answerProblem(answer), answer.timeout ? MPP_TIMEOUT : undefined);
  }

  /**
   * lightningd's `invoice_payment` hook: the whole amount of one of its invoices is in. A message
   * on it was decided while lnmsg held its HTLCs, so this passes; other custom records of the
   * HTLCs being paid are stored as the payment's data, before lightningd settles.
   */
  async onInvoicePayment(p: {
    label: string;
    preimage: string;
    msat: number;
  }): Promise<InvoicePaymentResult> {
    const hash = toHex(sha256(fromHex(p.preimage)));
    // lnmsg still holds parts of a message on it: what lightningd has is not that message.
    if (this.sets.has(hash) || this.judging.has(hash)) {
      this.log('info', `refusing the payment of invoice ${p.label} (${hash}): its message is not whole`);
      // lightningd fails the whole set: the records its HTLCs carried go with it.
      this.paymentData.refused(hash);
      return { result: 'reject' };
    }
    try {
      await this.paymentData.paid(hash, p);
    } catch (e) {
      this.log('unusual', `keeping the records of payment ${hash}: ${(e as Error).message}`);
    }
    return { result: 'continue' };
  }

  /** lightningd's `invoice_payment` notification: the payment settled. */
  async onInvoicePaid(p: { preimage: string }): Promise<void> {
    await this.settlements.confirm(toHex(sha256(fromHex(p.preimage))));
  }

  private announce(m: ReceivedMessage): void {
    for (const l of this.listeners) l(m);
  }

  /** Offers a part; once its set has ended, forgets it (the store answers from then on). */
  private async answerOf(set: MessageSet<DecodedHopPayload>, part: Part<DecodedHopPayload>): Promise<Answer> {
    const answer = await set.offer(part);
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

  /** Ms since 1970 until which this HTLC may be held, keeping `holdSafetyBlocks` in hand. */
  private holdUntil(req: HtlcAcceptedRequest): number {
    return this.clock() + (req.htlc.cltv_expiry_relative - this.config.holdSafetyBlocks) * BLOCK_MS;
  }

  /** A message held when lnmsg stopped, whose HTLCs lightningd now replays. */
  private restore(m: ReceivedMessage, payee: Payee, req: HtlcAcceptedRequest): InFlight {
    const deadlineMs = (m.deadline ?? this.now() + this.config.holdTimeoutSeconds) * 1000;
    const decideBy = m.decideBy ?? (payee.kind !== 'keysend' && payee.inv.hold ? 'operator' : 'decider');
    const fx = this.effects.of(m.paymentHash, payee, () => deadlineMs);
    const decider = this.effects.deciderFor(m, decideBy);
    // Held for a decider that is no longer configured: nothing is left to refuse it, so it settles.
    const settle = decideBy === 'decider' && !decider ? async () => ({ accept: true as const }) : decider;
    const entry = {
      set: MessageSet.restored(m.paymentHash, m.htlcs, deadlineMs, fx, settle),
      payee,
      holds: { untilMs: Math.min(deadlineMs, this.holdUntil(req)) },
    };
    this.sets.set(m.paymentHash, entry);
    return entry;
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
}

function hasHtlc(m: ReceivedMessage, ref: HtlcRef): boolean {
  return m.htlcs.some((h) => h.channel === ref.channel && h.id === ref.id);
}
