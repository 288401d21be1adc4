import { param } from '../cln/params.js';
import { INVALID_PARAMS, MethodError } from '../cln/plugin.js';
import { messageView } from './format.js';
import { MAX_EXPIRY_SECONDS } from './config.js';
import type { Decision, Receiver } from './receiver.js';

/** lnmsg's receive-side RPC methods, each a named function of its parameters. */
type Params = Record<string, unknown>;

export async function receiveMessageNew(receiver: Receiver, p: Params): Promise<string> {
  const inv = await receiver.newInvoice({
    amountMsat: param.msat(p, 'amount_msat', { fallback: 0 }),
    label: param.optionalString(p, 'label'),
    hold: param.bool(p, 'hold'),
    expirySeconds: param.count(p, 'expiry', {
      min: 1,
      max: MAX_EXPIRY_SECONDS,
      fallback: receiver.config.expirySeconds,
    }),
  });
  return inv.paymentHash;
}

/** A BOLT 11 invoice to receive a message on, in `invoice`'s names (and its label). */
export async function receiveMessageInvoice(receiver: Receiver, p: Params) {
  const inv = await receiver.newBolt11({
    amountMsat: param.msat(p, 'amount_msat', { fallback: 0 }),
    label: param.optionalString(p, 'label'),
    description: param.optionalString(p, 'description'),
    hold: param.bool(p, 'hold'),
    expirySeconds: param.count(p, 'expiry', {
      min: 1,
      max: MAX_EXPIRY_SECONDS,
      fallback: receiver.config.expirySeconds,
    }),
  });
  return {
    bolt11: inv.bolt11,
    payment_hash: inv.payment_hash,
    payment_secret: inv.payment_secret,
    expires_at: inv.expires_at,
    label: inv.label,
    // As lightningd says them (warning_capacity: no channel can receive it, so no route hint).
    ...inv.warnings,
  };
}

export async function receiveMessagePoll(receiver: Receiver, p: Params) {
  const m = await receiver.message(param.hash(p, 'payment_hash'));
  return m ? messageView(m) : null;
}

export async function receiveMessageWait(receiver: Receiver, p: Params) {
  const timeoutMs = param.seconds(p, 'timeout', 60) * 1000;
  if (p.payment_hash === undefined || p.payment_hash === null) {
    const m = await receiver.wait('any', timeoutMs);
    return m ? messageView(m) : null;
  }
  const hash = param.hash(p, 'payment_hash');
  if (!(await receiver.isOurs(hash)) && !(await receiver.message(hash)))
    throw new MethodError(INVALID_PARAMS, `payment_hash ${hash} was not made by lnmsg`);
  const m = await receiver.wait(hash, timeoutMs);
  return m ? messageView(m) : null;
}

/** As lightningd's lists: `index` created (default) or updated, from `start`, at most `limit`. */
export async function receiveMessageList(receiver: Receiver, p: Params) {
  const { index, start, limit } = param.page(p);
  return { messages: (await receiver.list(index, start, limit)).map(messageView) };
}

export async function receiveMessageAccept(receiver: Receiver, p: Params) {
  return decide(receiver, param.hash(p, 'payment_hash'), { accept: true });
}

export async function receiveMessageReject(receiver: Receiver, p: Params) {
  const reason = param.optionalString(p, 'reason') ?? 'rejected by the payee';
  return decide(receiver, param.hash(p, 'payment_hash'), { accept: false, reason });
}

async function decide(receiver: Receiver, hash: string, d: Decision) {
  const r = await receiver.decide(hash, d);
  if (!r.ok) throw new MethodError(INVALID_PARAMS, `payment_hash ${hash}: ${r.why}`);
  return { payment_hash: hash, status: r.state === 'settled' ? 'settled' : 'rejected' };
}

export async function receiveMessageDelete(receiver: Receiver, p: Params) {
  const hash = param.hash(p, 'payment_hash');
  const m = await receiver.delete(hash);
  if (m === 'held')
    throw new MethodError(
      INVALID_PARAMS,
      `payment_hash ${hash}: held for a decision; accept or reject it first`,
    );
  if (!m) throw new MethodError(INVALID_PARAMS, `payment_hash ${hash}: no message stored`);
  return { payment_hash: hash, deleted: messageView(m) };
}
