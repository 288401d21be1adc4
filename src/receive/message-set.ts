import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcRef } from '../store/messages.js';
import { concat, equalBytes } from '../wire/bytes.js';
import type { RefusalCause } from '../wire/refusal.js';

/**
 * The HTLCs of one message (one part, or every part of a multi-part payment) and their one fate.
 *
 *   collecting --all bytes and amount in--> complete --stored, settles now--> settled
 *        |                                      |  \--stored, held--> deciding --accept, written--> settled
 *        |                                      |                         \--reject, deadline, write failed--> refused
 *        \--part timer, fatal part----------> refused <--cannot store--/
 *
 * Every HTLC of the set is held (its hook call pending) until the set's fate, and all get the same
 * answer, given only once the store says the same: settled in the store if and only if every part
 * is let through. Only `collecting` has a part timer; from `complete` on, the hold or decider
 * deadline governs. A part that does not belong (another payer's secret, an extra part after
 * completion) is refused alone and changes nothing. A part repeating another's bytes exactly (LND
 * repeats its records in every shard) adds its amount and no bytes.
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
  | { kind: 'refuse'; reason: string; cause: RefusalCause; told?: string }
  | { kind: 'hold'; deadlineMs: number; decider?: (deadlineMs: number) => Promise<Decision> };

export interface SetEffects<C> {
  /** Every byte and the amount are in: check and store the message (its parts by offset, repeats too). */
  complete(parts: Part<C>[], message: Uint8Array): Promise<Completion>;
  /** Writes a held message's fate; the HTLCs are answered only once this resolved. */
  finish(decision: Decision): Promise<void>;
  /** A timer; returns its cancel. */
  after(ms: number, fn: () => void): () => void;
  now(): number;
  partTimeoutMs: number;
  log(message: string): void;
}

/** The outcome of an accept or reject. */
export type DecideResult = { ok: true; state: 'settled' | 'refused' } | { ok: false; why: string };

export class MessageSet<C = unknown> {
  private current: SetState = 'collecting';
  private readonly parts = new Map<string, { part?: Part<C>; answer: Promise<Answer> }>();
  /** The parts holding message bytes, by offset. */
  private readonly pieces = new Map<number, Part<C>>();
  private covered = 0;
  /** What the parts' HTLCs carry, in msat. */
  private received = 0n;
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
    // Every byte, and as much as the payer says it pays: the parts' amounts may lag their bytes.
    if (this.covered === part.total && this.received >= part.totalMsat) void this.completeSet();
    return this.answered;
  }

  /** Takes a part in: the refusal of this part alone, or undefined once it belongs. */
  private join(part: Part<C>): Refused | undefined {
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
    const repeat = this.pieces.get(part.offset);
    const again = repeat !== undefined && equalBytes(repeat.data, part.data);
    const problem = first ? disagreement(first, part, again ? new Map() : this.pieces) : undefined;
    this.parts.set(refKey(part.htlc), { part, answer: this.answered });
    this.received += BigInt(part.htlc.amountMsat);
    if (!again) {
      this.pieces.set(part.offset, part);
      this.covered += part.data.length;
    }
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
          reason: `only ${this.missing()} within ${this.fx.partTimeoutMs / 1000}s`,
        }),
      );
    }
    return undefined;
  }

  private missing(): string {
    const first = this.first as Part<C>;
    return this.covered < first.total
      ? `${this.covered} of ${first.total} bytes`
      : `${this.received} of ${first.totalMsat} msat`;
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
    // Every HTLC of the set, repeats too: lightningd replays each, and each carries its amount.
    const all = [...this.parts.values()].flatMap((p) => (p.part ? [p.part] : []));
    const id = this.pieces.get(0)?.messageId;
    if (!id || !equalBytes(sha256(message).subarray(0, 16), id)) {
      return this.end(refused('the reassembled message does not match its id', 'malformed'));
    }
    let c: Completion;
    try {
      c = await this.fx.complete(
        all.sort((a, b) => a.offset - b.offset),
        message,
      );
    } catch (e) {
      c = {
        kind: 'refuse',
        reason: `could not store the message: ${(e as Error).message}`,
        cause: 'refused',
      };
    }
    if (c.kind === 'settle') this.end({ settle: true });
    else if (c.kind === 'refuse')
      this.end({ ...refused(c.reason, c.cause), ...(c.told ? { told: c.told } : {}) });
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
  if (pieces.has(p.offset)) return `parts carry different bytes at byte ${p.offset}`;
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
