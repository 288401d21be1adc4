import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcRef } from '../store/messages.js';
import { concat, equalBytes } from '../wire/bytes.js';
import type { RefusalCause } from '../wire/refusal.js';

/**
 * The HTLCs of one message (one part, or every part of a multi-part payment) and their one fate.
 *
 *   collecting --all bytes in--> complete --stored, settles now--> settled
 *        |                           |  \--stored, held--> deciding --accept, written--> settled
 *        |                           |                         \--reject, deadline, write failed--> refused
 *        \--part timer, fatal part--> refused <--cannot store--/
 *        \--paid (invoice) before all bytes--> refused
 *
 * On an invoice (`settledByInvoice`) the set completes when lightningd says the whole amount is in
 * (`paid`), and its answer is the one lightningd's invoice_payment hook gets.
 *
 * Every HTLC of the set gets the same answer, given only once the store says the same: settled in
 * the store if and only if every part is resolved with the preimage. Only `collecting` has a part
 * timer; from `complete` on, the hold or decider deadline governs. A part that does not belong
 * (another payer's secret, an extra part after completion) is refused alone and changes nothing.
 */
export type SetState = 'collecting' | 'complete' | 'deciding' | 'settled' | 'refused';

/** How the HTLCs are answered; a refusal says why, for the log and (its cause) for the payer. */
export type Answer = { settle: true } | Refused;

export interface Refused {
  settle: false;
  reason: string;
  cause: RefusalCause;
  /** The payee's own words (a decision's reason), meant for the payer. */
  told?: string;
  timeout?: boolean;
}

export type Decision = { accept: true } | { accept: false; reason: string };

/** One HTLC of the set, as the payee parsed it: `data` is the message's bytes at `offset`. */
export interface Part<C = unknown> {
  htlc: HtlcRef;
  offset: number;
  /** The whole message's length. */
  total: number;
  data: Uint8Array;
  /** First 16 bytes of SHA256 of the whole message: carried by the part at offset 0. */
  messageId?: Uint8Array;
  /** What only the payer knows and every part repeats (a chunk's token, or payment_data's secret). */
  secret: Uint8Array;
  /** The total the payer says it pays (0 when it does not say). */
  totalMsat: bigint;
  /** Whatever the caller keeps with a part (its parsed payload). */
  context: C;
}

/** What storing a complete message led to. */
export type Completion =
  | { kind: 'settle' }
  | { kind: 'refuse'; reason: string; cause: RefusalCause }
  | { kind: 'hold'; deadlineMs: number; decider?: (deadlineMs: number) => Promise<Decision> };

export interface SetEffects<C> {
  /** Every chunk is in: check and store the message (as settled, or held for a decision). */
  complete(parts: Part<C>[], message: Uint8Array): Promise<Completion>;
  /** Writes a held message's fate; the HTLCs are answered only once this resolved. */
  finish(decision: Decision): Promise<void>;
  /** A timer; returns its cancel. */
  after(ms: number, fn: () => void): () => void;
  now(): number;
  partTimeoutMs: number;
  log(message: string): void;
  /** lightningd settles the set (an invoice's payment): it completes on `paid`, not on its last byte. */
  settledByInvoice?: boolean;
}

/** The outcome of an accept or reject. */
export type DecideResult = { ok: true; state: 'settled' | 'refused' } | { ok: false; why: string };

export class MessageSet<C = unknown> {
  private current: SetState = 'collecting';
  private readonly parts = new Map<string, { part?: Part<C>; answer: Promise<Answer> }>();
  /** The parts holding message bytes, by offset. */
  private readonly pieces = new Map<number, Part<C>>();
  private covered = 0;
  private first?: Part<C>;
  private fate?: Answer;
  private answerAll: (a: Answer) => void = () => {};
  private readonly answered: Promise<Answer>;
  private cancelTimer: () => void = () => {};
  private decision?: Promise<DecideResult>;
  private deciding?: (d: Decision) => Promise<DecideResult>;

  constructor(
    readonly paymentHash: string,
    private readonly fx: SetEffects<C>,
  ) {
    this.answered = new Promise((resolve) => {
      this.answerAll = resolve;
    });
  }

  /**
   * A set restored after a restart: its message is stored as held, and lightningd replays its
   * HTLCs (`htlcs`) one by one. Only those belong to it.
   */
  static restored<C>(
    paymentHash: string,
    htlcs: HtlcRef[],
    deadlineMs: number,
    fx: SetEffects<C>,
    decider?: (deadlineMs: number) => Promise<Decision>,
  ): MessageSet<C> {
    const set = new MessageSet<C>(paymentHash, fx);
    for (const h of htlcs) set.parts.set(refKey(h), { answer: set.answered });
    set.hold(deadlineMs, decider);
    return set;
  }

  get state(): SetState {
    return this.current;
  }

  get ended(): boolean {
    return this.current === 'settled' || this.current === 'refused';
  }

  /** Whether this HTLC is one of the set's (then it gets the set's answer). */
  knows(h: HtlcRef): boolean {
    return this.parts.has(refKey(h));
  }

  /** Why the set was refused, once it was. */
  get refusal(): string | undefined {
    return this.fate && !this.fate.settle ? this.fate.reason : undefined;
  }

  /** An HTLC for this set's hash (a new part, or one lightningd replays); resolves to its answer. */
  offer(part: Part<C>): Promise<Answer> {
    const known = this.parts.get(refKey(part.htlc));
    // The same HTLC again (a replay): the same answer.
    if (known) return known.answer;
    const alone = this.join(part);
    if (alone) return Promise.resolve(alone);
    if (!this.fx.settledByInvoice && this.covered === part.total) void this.completeSet();
    return this.answered;
  }

  /**
   * Takes a part in without waiting for the set's fate: the refusal of this part alone, or
   * undefined once it belongs (a replay belongs already). For a set `settledByInvoice`, where
   * lightningd answers the HTLCs and `paid` says when the whole amount is in.
   */
  join(part: Part<C>): Refused | undefined {
    if (this.parts.has(refKey(part.htlc))) return undefined;
    if (this.current !== 'collecting') {
      return this.current === 'settled'
        ? refused('this payment hash was already paid', 'already_paid')
        : refused(
            `another payment for this hash is ${this.current === 'refused' ? 'refused' : 'in progress'}`,
            'already_paid',
          );
    }
    const first = this.first;
    if (first && !equalBytes(part.secret, first.secret)) {
      // Not the payer of the first part: it cannot speak for the set.
      return refused('a part with another payment secret', 'malformed');
    }
    const problem = first ? disagreement(first, part, this.pieces) : undefined;
    this.parts.set(refKey(part.htlc), { part, answer: this.answered });
    this.pieces.set(part.offset, part);
    this.covered += part.data.length;
    if (problem) {
      const fatal = refused(problem, 'malformed');
      this.end(fatal);
      return fatal;
    }
    if (!first) {
      this.first = part;
      this.cancelTimer = this.fx.after(this.fx.partTimeoutMs, () =>
        this.end({
          settle: false,
          cause: 'malformed',
          timeout: true,
          reason: `only ${this.covered} of ${part.total} bytes within ${this.fx.partTimeoutMs / 1000}s`,
        }),
      );
    }
    return undefined;
  }

  /**
   * lightningd has the whole amount of an invoice (its invoice_payment hook): the message must be
   * whole too. Resolves to the answer for the hook, once the store says the same.
   */
  paid(): Promise<Answer> {
    if (this.current === 'collecting') {
      const total = this.first?.total ?? 0;
      if (this.first && this.covered === total) void this.completeSet();
      else this.end(refused(`paid with ${this.covered} of ${total} message bytes`, 'malformed'));
    }
    return this.answered;
  }

  /** The operator's (or a decider's) verdict on a held set. */
  decide(d: Decision): Promise<DecideResult> {
    if (this.deciding && !this.decision) this.decision = this.deciding(d);
    else if (this.decision) return Promise.resolve({ ok: false, why: 'it was already decided' });
    return this.decision ?? Promise.resolve({ ok: false, why: this.notHeld() });
  }

  private notHeld(): string {
    if (this.current === 'refused') return `its payment failed: ${this.refusal}`;
    if (this.current === 'settled') return 'it is already settled';
    return `it is not held for a decision (${this.current})`;
  }

  private async completeSet(): Promise<void> {
    this.current = 'complete';
    this.cancelTimer();
    const ordered = [...this.pieces.values()].sort((a, b) => a.offset - b.offset);
    const message = concat(...ordered.map((p) => p.data));
    const id = this.pieces.get(0)?.messageId;
    if (!id || !equalBytes(sha256(message).subarray(0, 16), id)) {
      return this.end(refused('the reassembled message does not match its id', 'malformed'));
    }
    let c: Completion;
    try {
      c = await this.fx.complete(ordered, message);
    } catch (e) {
      c = {
        kind: 'refuse',
        reason: `could not store the message: ${(e as Error).message}`,
        cause: 'refused',
      };
    }
    if (c.kind === 'settle') this.end({ settle: true });
    else if (c.kind === 'refuse') this.end(refused(c.reason, c.cause));
    else this.hold(c.deadlineMs, c.decider);
  }

  private hold(deadlineMs: number, decider?: (deadlineMs: number) => Promise<Decision>): void {
    this.current = 'deciding';
    this.deciding = async (d) => {
      cancelDeadline();
      try {
        await this.fx.finish(d);
      } catch (e) {
        // Unwritten, a "settled" would be a lie if the HTLCs failed later: refuse instead.
        this.fx.log(`could not record the decision on ${this.paymentHash}: ${(e as Error).message}`);
        this.end(refused(`the decision could not be recorded: ${(e as Error).message}`, 'refused'));
        return d.accept
          ? { ok: false, why: 'the decision could not be recorded; the payment was refused' }
          : { ok: true, state: 'refused' };
      }
      this.end(
        d.accept ? { settle: true } : { settle: false, reason: d.reason, cause: 'refused', told: d.reason },
      );
      return { ok: true, state: d.accept ? 'settled' : 'refused' };
    };
    const seconds = Math.max(0, Math.round((deadlineMs - this.fx.now()) / 1000));
    const cancelDeadline = this.fx.after(Math.max(0, deadlineMs - this.fx.now()), () => {
      void this.decide({ accept: false, reason: `no decision within ${seconds}s` });
    });
    if (decider) void decider(deadlineMs).then((d) => this.decide(d));
  }

  private end(a: Answer): void {
    if (this.ended) return;
    this.cancelTimer();
    this.fate = a;
    this.current = a.settle ? 'settled' : 'refused';
    this.answerAll(a);
  }
}

function refused(reason: string, cause: RefusalCause): Refused {
  return { settle: false, reason, cause };
}

function refKey(h: HtlcRef): string {
  return `${h.channel}/${h.id}`;
}

/** Why a part from the same payer cannot belong with the others: then the payer's set is broken. */
function disagreement<C>(first: Part<C>, p: Part<C>, pieces: Map<number, Part<C>>): string | undefined {
  if (p.total !== first.total)
    return `a part says the message has ${p.total} bytes, an earlier one ${first.total}`;
  if (p.totalMsat !== first.totalMsat) return 'parts disagree on total_msat';
  const end = p.offset + p.data.length;
  for (const q of pieces.values()) {
    if (q.offset < end && p.offset < q.offset + q.data.length)
      return `parts overlap at byte ${Math.max(p.offset, q.offset)}`;
  }
  return undefined;
}
