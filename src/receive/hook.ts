import {
  CONTINUE,
  HtlcAcceptedRequest,
  type HtlcAcceptedResult,
  InvoicePayment,
  InvoicePaymentRequest,
} from '../cln/hook-types.js';
import type { InvoicePaymentResult, Receiver } from './receiver.js';

/**
 * The `htlc_accepted` hook. Every HTLC the node handles passes here, so anything that does not
 * parse as a request lnmsg understands is not ours: lightningd carries on with it.
 */
export function htlcAccepted(
  receiver: Receiver | undefined,
  payload: unknown,
): HtlcAcceptedResult | Promise<HtlcAcceptedResult> {
  const req = HtlcAcceptedRequest.safeParse(payload);
  if (!req.success || !receiver) return CONTINUE;
  return receiver.onHtlcAccepted(req.data);
}

/** The `invoice_payment` hook: the whole amount of one of lightningd's invoices is in. */
export function invoicePayment(
  receiver: Receiver | undefined,
  payload: unknown,
): InvoicePaymentResult | Promise<InvoicePaymentResult> {
  const req = InvoicePaymentRequest.safeParse(payload);
  if (!req.success || !receiver) return { result: 'continue' };
  return receiver.onInvoicePayment(req.data.payment);
}

/** The `invoice_payment` notification: one of lightningd's invoices settled. */
export async function invoicePaid(receiver: Receiver | undefined, payload: unknown): Promise<void> {
  const p = InvoicePayment.safeParse(payload);
  if (p.success && receiver) await receiver.onInvoicePaid(p.data);
}
