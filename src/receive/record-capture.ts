import type { TlvRecord } from '../wire/tlv.js';

export interface CaptureLimits {
  /** Payments whose records are held at once. */
  maxPayments: number;
  /** Record bytes held at once. */
  maxBytes: number;
  /** How long records wait for their payment to complete. */
  ttlMs: number;
}

export const CAPTURE_DEFAULTS: CaptureLimits = {
  maxPayments: 1000,
  maxBytes: 16 * 1024 * 1024,
  // lightningd fails an incomplete multi-part payment after 70 s; a held invoice can wait longer.
  ttlMs: 15 * 60_000,
};

/**
 * lightningd's htlc_set: it fails a set's HTLCs 70 s after the first joined (lightningd/htlc_set.c),
 * and a later HTLC starts a new set.
 */
export const HTLC_SET_MS = 70_000;

/** One HTLC that carried records, with what it proves of its payer. */
export interface CapturedHtlc {
  amountMsat: number;
  /** payment_data's total_msat: one set's HTLCs all say the same. */
  totalMsat: bigint;
  /** payment_data's secret (hex), if it carried one. */
  secret?: string;
  /** Whether it carried a keysend preimage that hashes to its payment hash. */
  keysend: boolean;
  records: TlvRecord[];
}

/** Which HTLCs lightningd is paying: those with the invoice's secret, or the keysend that made its invoice. */
export type PaidBy = { secret: string } | 'keysend';

interface Seen extends CapturedHtlc {
  at: number;
  bytes: number;
}

/**
 * The custom records of payments lightningd itself settles (its invoices, keysends), seen HTLC by
 * HTLC in `htlc_accepted` and kept in memory until the `invoice_payment` hook says which payment is
 * whole: lightningd shows them nowhere else on a production node. Anyone can send HTLCs on a known
 * hash with records of their own, which lightningd then fails, so records are given only from the
 * HTLCs of the set lightningd pays. Bounded: past a limit the oldest payments go first.
 */
export class RecordCapture {
  private readonly held = new Map<string, Seen[]>();
  private bytes = 0;

  constructor(
    private readonly limits: CaptureLimits = CAPTURE_DEFAULTS,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * An HTLC on a hash with records held is kept even without records of its own: it may begin a new
   * set of lightningd's, which the records of an earlier (failed) set are not part of.
   */
  add(paymentHash: string, htlc: CapturedHtlc): void {
    if (htlc.records.length === 0 && !this.held.has(paymentHash)) return;
    const bytes = htlc.records.reduce((n, r) => n + r.value.length, 0);
    if (bytes > this.limits.maxBytes) return;
    const now = this.clock();
    const seen = this.held.get(paymentHash) ?? [];
    this.forget(paymentHash);
    seen.push({ ...htlc, at: now, bytes });
    // A payment's HTLCs together may not pass the limit either: its oldest go first.
    while (total(seen) > this.limits.maxBytes) seen.shift();
    const held = total(seen);
    this.evict(now, held);
    this.held.set(paymentHash, seen);
    this.bytes += held;
  }

  /**
   * The records of the set lightningd pays `msat` with, once: every record held for the hash
   * leaves memory here. Undefined when no HTLC of that set carried any.
   */
  take(paymentHash: string, paidBy: PaidBy, msat: number): TlvRecord[] | undefined {
    const seen = this.held.get(paymentHash) ?? [];
    this.forget(paymentHash);
    const now = this.clock();
    const proven = seen.filter(
      (s) =>
        s.at + this.limits.ttlMs >= now &&
        (paidBy === 'keysend' ? s.keysend : s.secret !== undefined && s.secret === paidBy.secret),
    );
    const set = lastSet(proven);
    // lightningd pays a set once it has its total_msat, and what it has is `msat`: a set that
    // asked for more, or whose record HTLCs alone pass it, is another (failed) one.
    const [first] = set;
    if (!first || first.totalMsat > BigInt(msat) || set.reduce((n, s) => n + s.amountMsat, 0) > msat)
      return undefined;
    const byType = new Map<bigint, TlvRecord>();
    for (const s of set) for (const r of s.records) if (!byType.has(r.type)) byType.set(r.type, r);
    if (byType.size === 0) return undefined;
    return [...byType.values()].sort((a, b) => (a.type < b.type ? -1 : 1));
  }

  get size(): number {
    return this.held.size;
  }

  /** Whether any HTLC of this hash carried records. */
  holds(paymentHash: string): boolean {
    return this.held.has(paymentHash);
  }

  /** Drops what is held for a hash. */
  forget(paymentHash: string): void {
    const seen = this.held.get(paymentHash);
    if (!seen) return;
    this.held.delete(paymentHash);
    this.bytes -= total(seen);
  }

  /** Drops stale payments, then the oldest until `incoming` more bytes and one more payment fit. */
  private evict(now: number, incoming: number): void {
    for (const [hash, seen] of this.held) {
      const stale = (seen.at(-1)?.at ?? 0) + this.limits.ttlMs < now;
      const full = this.held.size >= this.limits.maxPayments || this.bytes + incoming > this.limits.maxBytes;
      if (!stale && !full) break;
      this.forget(hash);
    }
  }
}

const total = (seen: Seen[]) => seen.reduce((n, s) => n + s.bytes, 0);

/**
 * The HTLCs of lightningd's newest set among proven ones, in arrival order: a set lasts 70 s from
 * its first HTLC, and one whose HTLCs disagree on total_msat is failed whole.
 */
function lastSet(proven: Seen[]): Seen[] {
  let set: Seen[] = [];
  for (const s of proven) {
    const first = set[0];
    if (!first || s.at >= first.at + HTLC_SET_MS) set = [s];
    else if (s.totalMsat !== first.totalMsat) set = [];
    else set.push(s);
  }
  return set;
}
