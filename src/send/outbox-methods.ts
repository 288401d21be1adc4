import { param } from '../cln/params.js';
import { INVALID_PARAMS, MethodError } from '../cln/plugin.js';
import { messageText } from '../receive/format.js';
import type { SentMessage } from '../store/outbox.js';
import type { Outbox } from './outbox.js';

type Params = Record<string, unknown>;

/** An outbox entry as RPC results show it. */
export function sentView(e: SentMessage) {
  const text = messageText(e.messageHex);
  return {
    payment_hash: e.paymentHash,
    destination: e.destination,
    amount_msat: e.amountMsat,
    ...(e.status === 'complete'
      ? {
          fee_msat: e.feeMsat,
          amount_sent_msat: e.amountSentMsat,
          parts: e.parts,
          payment_preimage: e.paymentPreimage,
        }
      : {}),
    status: e.status,
    ...(e.error === undefined ? {} : { error: e.error }),
    message: text ?? e.messageHex,
    message_hex: e.messageHex,
    message_bytes: e.messageHex.length / 2,
    is_text: text !== undefined,
    spontaneous: e.spontaneous,
    signed: e.signed,
    ...(e.bolt11 === undefined ? {} : { bolt11: e.bolt11 }),
    ...(e.description === undefined ? {} : { description: e.description }),
    created_at: e.createdAt,
    ...(e.completedAt === undefined ? {} : { completed_at: e.completedAt }),
    created_index: e.createdIndex,
    ...(e.updatedIndex === undefined ? {} : { updated_index: e.updatedIndex }),
  };
}

export type SentView = ReturnType<typeof sentView>;

/** As receivemessage_list: `index` created (default) or updated, from `start`, at most `limit`. */
export async function sendMessageList(outbox: Outbox, p: Params) {
  const { index, start, limit } = param.page(p);
  await outbox.current();
  return { messages: (await outbox.store.list(index, start, limit)).map(sentView) };
}

export async function sendMessageDelete(outbox: Outbox, p: Params) {
  const hash = param.hash(p, 'payment_hash');
  await outbox.current(hash);
  const e = await outbox.store.delete(hash);
  if (e === 'pending')
    throw new MethodError(INVALID_PARAMS, `payment_hash ${hash}: still being sent; delete it once it ends`);
  if (!e) throw new MethodError(INVALID_PARAMS, `payment_hash ${hash}: nothing sent to it is kept`);
  return { payment_hash: hash, deleted: sentView(e) };
}
