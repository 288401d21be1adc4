import type { MessageStore } from '../store/messages.js';
import { toHex } from '../wire/bytes.js';
import type { DecodedHopPayload } from '../wire/hop-payload.js';
import type { ReceiverConfig } from './config.js';
import type { InvoiceBook } from './hashes.js';
import { keptRecords } from './parts.js';
import { type PaidBy, RecordCapture } from './record-capture.js';

type Log = (level: 'info' | 'unusual', message: string) => void;

export interface PaymentDataDeps {
  store: MessageStore;
  invoices: InvoiceBook;
  config: ReceiverConfig;
  clock: () => number;
  log: Log;
  /** lightningd is settling this hash: lnmsg asks later what became of it. */
  settling(paymentHash: string): void;
}

/**
 * The custom records of payments that carry no lnmsg message (a boostagram, an LND payer's
 * records), which lightningd settles itself: seen in `htlc_accepted` without delaying anything,
 * written at the `invoice_payment` hook from the HTLCs lightningd is paying only, before it settles.
 */
export class PaymentData {
  private readonly capture: RecordCapture;

  constructor(private readonly d: PaymentDataDeps) {
    this.capture = new RecordCapture(undefined, d.clock);
  }

  /** An HTLC lnmsg lets through untouched: its records are remembered with what it proves. */
  seen(paymentHash: string, amountMsat: number, payload: DecodedHopPayload, keysend: boolean): void {
    const secret = payload.paymentData?.paymentSecret;
    this.capture.add(paymentHash, {
      amountMsat,
      totalMsat: payload.paymentData?.totalMsat ?? 0n,
      ...(secret ? { secret: toHex(secret) } : {}),
      keysend,
      records: payload.customRecords,
    });
  }

  /**
   * lightningd has the whole amount of one of its invoices: the records of the HTLCs it pays are
   * stored as `settling` (settled once it says so). A keysend's count against the budget.
   */
  async paid(paymentHash: string, p: { label: string; msat: number }): Promise<void> {
    if (!this.capture.holds(paymentHash)) return;
    const paidBy = await this.paidBy(paymentHash, p.label);
    if (!paidBy) return this.capture.forget(paymentHash);
    const records = this.capture.take(paymentHash, paidBy, p.msat);
    if (!records) return;
    const kept = keptRecords(records, this.d.config.tlvType);
    if (kept.length === 0) return;
    const spontaneous = paidBy === 'keysend';
    const stored = await this.d.store.addMessage(
      {
        paymentHash,
        messageHex: '',
        records: kept,
        tlvType: Number(this.d.config.tlvType),
        amountMsat: p.msat,
        receivedAt: Math.floor(this.d.clock() / 1000),
        htlcs: [],
        status: 'settling',
        spontaneous,
        ...(spontaneous ? {} : { viaInvoice: true }),
        label: p.label,
      },
      spontaneous ? this.d.config.maxStoredBytes : Infinity,
    );
    if (stored === 'full')
      this.d.log(
        'unusual',
        `not keeping the records of keysend ${paymentHash}: lnmsg-max-stored-bytes is reached`,
      );
    else if (stored !== 'exists') this.d.settling(paymentHash);
  }

  /** lnmsg refused the payment lightningd had whole: every HTLC of the hash fails with it. */
  refused(paymentHash: string): void {
    this.capture.forget(paymentHash);
  }

  /**
   * Which HTLCs lightningd pays: the keysend its keysend plugin made this invoice for (labelled
   * so), or those with the invoice's payment secret.
   */
  private async paidBy(paymentHash: string, label: string): Promise<PaidBy | undefined> {
    const ours = await this.d.store.invoice(paymentHash);
    if (label.startsWith('keysend-')) {
      // A keysend on a hash lnmsg settles itself (a seed hash, or one paid before whose message was
      // deleted): its preimage came from a payment that settled, so it proves nothing.
      const replay = ours !== undefined || (await this.d.store.wasPaid(paymentHash));
      return replay ? undefined : 'keysend';
    }
    if (ours?.paymentSecret) return { secret: ours.paymentSecret };
    const node = await this.d.invoices.find(paymentHash);
    return node?.paymentSecret ? { secret: toHex(node.paymentSecret) } : undefined;
  }
}
