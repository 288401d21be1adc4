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
  // lightningd fails an incomplete multi-part payment after 60 s; a held invoice can wait longer.
  ttlMs: 15 * 60_000,
};

interface Held {
  records: TlvRecord[];
  bytes: number;
  at: number;
}

/**
 * The custom records of payments lightningd itself settles (its invoices, keysends), seen in
 * `htlc_accepted` and kept in memory until the `invoice_payment` hook says the payment is whole:
 * lightningd shows them nowhere else on a production node. Anyone can send HTLCs with records
 * for hashes that never complete, so this is bounded: past a limit the oldest go first.
 */
export class RecordCapture {
  private readonly held = new Map<string, Held>();
  private bytes = 0;

  constructor(
    private readonly limits: CaptureLimits = CAPTURE_DEFAULTS,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Records of one HTLC; parts of one payment add the types they alone carry. */
  add(paymentHash: string, records: readonly TlvRecord[]): void {
    if (records.length === 0) return;
    const now = this.clock();
    const h = this.held.get(paymentHash) ?? { records: [], bytes: 0, at: now };
    const known = new Set(h.records.map((r) => r.type));
    const fresh = records.filter((r) => !known.has(r.type));
    const added = fresh.reduce((n, r) => n + r.value.length, 0);
    this.held.delete(paymentHash);
    this.bytes -= h.bytes;
    // A payment larger than all is not held, whether one HTLC or its parts together make it so.
    if (h.bytes + added > this.limits.maxBytes) return;
    h.records = [...h.records, ...fresh].sort((a, b) => (a.type < b.type ? -1 : 1));
    h.bytes += added;
    this.evict(now, h.bytes);
    this.held.set(paymentHash, h);
    this.bytes += h.bytes;
  }

  /** The records of a payment, once: they leave memory here. */
  take(paymentHash: string): TlvRecord[] | undefined {
    const h = this.held.get(paymentHash);
    if (!h) return undefined;
    this.held.delete(paymentHash);
    this.bytes -= h.bytes;
    return h.at + this.limits.ttlMs < this.clock() ? undefined : h.records;
  }

  get size(): number {
    return this.held.size;
  }

  /** Drops stale entries, then the oldest until `incoming` more bytes and one more payment fit. */
  private evict(now: number, incoming: number): void {
    for (const [hash, h] of this.held) {
      const stale = h.at + this.limits.ttlMs < now;
      const full = this.held.size >= this.limits.maxPayments || this.bytes + incoming > this.limits.maxBytes;
      if (!stale && !full) break;
      this.held.delete(hash);
      this.bytes -= h.bytes;
    }
  }
}
