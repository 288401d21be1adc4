import type { ReceivedMessage } from '../store/messages.js';
import { fromHex, utf8 } from '../wire/bytes.js';

/** Text when the bytes are valid UTF-8, else undefined (the hex is always given). */
export function messageText(hex: string): string | undefined {
  try {
    return utf8.decode(fromHex(hex));
  } catch {
    return undefined;
  }
}

/** The seed's `{amount, message}` plus the newer fields, as RPC results show a message. */
export function messageView(m: ReceivedMessage) {
  return {
    amount: m.amountMsat,
    message: messageText(m.messageHex) ?? m.messageHex,
    payment_hash: m.paymentHash,
    amount_msat: m.amountMsat,
    message_hex: m.messageHex,
    message_bytes: m.messageHex.length / 2,
    is_text: messageText(m.messageHex) !== undefined,
    received_at: m.receivedAt,
    htlc_count: m.htlcs.length,
    status: m.status,
    spontaneous: m.spontaneous,
    created_index: m.createdIndex,
    ...(m.updatedIndex === undefined ? {} : { updated_index: m.updatedIndex }),
    ...(m.label === undefined ? {} : { label: m.label }),
    ...(m.sender === undefined ? {} : senderView(m)),
    ...(m.rejectReason === undefined ? {} : { reject_reason: m.rejectReason }),
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
