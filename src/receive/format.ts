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
    ...(m.label === undefined ? {} : { label: m.label }),
    ...(m.sender === undefined ? {} : { sender: m.sender, verified: m.verified ?? false }),
    ...(m.rejectReason === undefined ? {} : { reject_reason: m.rejectReason }),
  };
}
