import type { ReceivedMessage } from '../store/messages.js';
import { fromHex, utf8 } from '../wire/bytes.js';
import { type PaymentRecords, readPaymentRecords } from '../wire/payment-records.js';

/** Text when the bytes are valid UTF-8, else undefined (the hex is always given). */
export function messageText(hex: string): string | undefined {
  try {
    return utf8.decode(fromHex(hex));
  } catch {
    return undefined;
  }
}

/** How it was paid: through one of lightningd's invoices, as a keysend, or to an lnmsg hash (the seed's flow). */
function kindOf(m: ReceivedMessage): 'invoice' | 'keysend' | 'hash' {
  if (m.viaInvoice) return 'invoice';
  return m.spontaneous ? 'keysend' : 'hash';
}

/** The seed's `{amount, message}` plus the newer fields, as RPC results show a message. */
export function messageView(m: ReceivedMessage) {
  const other = readPaymentRecords(
    (m.records ?? []).map((r) => ({ type: BigInt(r.type), value: fromHex(r.value) })),
    BigInt(m.tlvType),
  );
  const text = m.messageHex === '' ? (other.text ?? other.tipNote) : messageText(m.messageHex);
  return {
    amount: m.amountMsat,
    message: text ?? m.messageHex,
    payment_hash: m.paymentHash,
    amount_msat: m.amountMsat,
    message_hex: m.messageHex,
    message_bytes: m.messageHex.length / 2,
    is_text: text !== undefined,
    kind: kindOf(m),
    // A payment that carried records but no lnmsg message: its text comes from them.
    ...(m.messageHex === '' ? { records_only: true } : {}),
    received_at: m.receivedAt,
    htlc_count: m.htlcs.length,
    status: m.status,
    spontaneous: m.spontaneous,
    created_index: m.createdIndex,
    ...(m.updatedIndex === undefined ? {} : { updated_index: m.updatedIndex }),
    ...(m.label === undefined ? {} : { label: m.label }),
    ...(m.sender === undefined ? {} : senderView(m)),
    ...(m.rejectReason === undefined ? {} : { reject_reason: m.rejectReason }),
    ...(m.records === undefined ? {} : recordsView(other)),
    ...(m.status === 'held' && m.deadline !== undefined
      ? { decide_by: m.decideBy, deadline: m.deadline }
      : {}),
  };
}

/** Who signed, whether it holds, what it covers (the payment, or the message only) and when. */
function senderView(m: ReceivedMessage) {
  return {
    sender: m.sender,
    verified: m.verified ?? false,
    ...(m.verified ? { signed_payment: m.signedPayment ?? false } : {}),
    ...(m.sentAt === undefined ? {} : { sent_at: m.sentAt }),
    ...(m.verifyProblem === undefined ? {} : { verify_problem: m.verifyProblem }),
  };
}

/** Every other custom record raw, and what lnmsg could read of them (what it could not is flagged). */
function recordsView(r: PaymentRecords) {
  return {
    records: r.records,
    ...(r.boostagram === undefined ? {} : { boostagram: r.boostagram }),
    ...(r.tipNote === undefined ? {} : { tip_note: r.tipNote }),
    ...(r.senderName === undefined ? {} : { sender_name: r.senderName }),
    ...(r.contentType === undefined ? {} : { content_type: r.contentType }),
    ...(r.problems.length === 0 ? {} : { record_problems: r.problems }),
  };
}
