import { param } from '../cln/params.js';
import { INVALID_PARAMS, MethodError, type PluginContext } from '../cln/plugin.js';
import { fromHex, toHex } from '../wire/bytes.js';
import { type Invoice, invoiceAmount, readInvoice } from './invoice.js';
import { sendMessage } from './message.js';
import type { Outbox } from './outbox.js';
import { withRouteHints } from './route-hints.js';
import { failureView, SendError, type Sender } from './sender.js';

/** Error codes of `sendmessage` (documented in the README). */
export const LNMSG_ERRORS = {
  refused: 1601,
  'no-route': 1602,
  'too-large': 1603,
  timeout: 1604,
  invalid: INVALID_PARAMS,
};

/** What `sendmessage` is doing, for `sendmessage_status` (the CLI's progress bar). */
const progress = new Map<string, { sent: number; parts: number }>();

export function sendMessageStatus(p: Record<string, unknown>) {
  return progress.get(param.hash(p, 'payment_hash')) ?? null;
}

/** The fee sendmessage accepts without `maxfee_msat`: 1%, and at least 5 sat. */
export function defaultMaxFeeMsat(amountMsat: number): number {
  return Math.max(5000, Math.ceil(amountMsat / 100));
}

/** sendmessage: pays with the message; the outbox keeps it from the payment hash on (parameter errors are not kept). */
export async function sendMessageMethod(
  sender: Sender,
  outbox: Outbox,
  p: Record<string, unknown>,
  ctx: PluginContext,
) {
  const to = p.bolt11 === undefined || p.bolt11 === null ? payee(p) : await invoicePayee(p, ctx, sender);
  const { destination, paymentHash, amountMsat, invoice } = to;
  const message = param.message(p);
  const maxParts = param.count(p, 'max_parts', { min: 1, fallback: 128 });
  const sign = param.bool(p, 'sign');
  const retryForSeconds = param.seconds(p, 'retry_for', 60);
  const maxFeeMsat = param.msat(p, 'maxfee_msat', { fallback: defaultMaxFeeMsat(amountMsat) });
  const key = paymentHash ?? '';
  const sending = outbox.sending({
    destination,
    amountMsat,
    messageHex: toHex(message),
    spontaneous: paymentHash === undefined,
    signed: sign,
    ...(invoice?.bolt11 === undefined ? {} : { bolt11: invoice.bolt11 }),
    ...(invoice?.description === undefined ? {} : { description: invoice.description }),
  });
  try {
    const hinted = { paymentHash: key, amountMsat, maxFeeMsat };
    const r = await withRouteHints(ctx.rpc, invoice?.hints ?? [], hinted, (layers) =>
      sendMessage(ctx.rpc, sender, {
        destination,
        paymentHash,
        amountMsat,
        message,
        tlvType: BigInt(ctx.options['lnmsg-tlv-type'] as number),
        sign,
        retryForSeconds,
        maxFeeMsat,
        maxParts,
        onProgress: (sent, parts) => progress.set(key, { sent, parts }),
        onHash: sending.begin,
        onSent: sending.sent,
        ...(invoice
          ? {
              invoice: {
                paymentSecret: fromHex(invoice.paymentSecret),
                ...(invoice.paymentMetadata ? { paymentMetadata: fromHex(invoice.paymentMetadata) } : {}),
                minFinalCltv: invoice.minFinalCltv,
                layers,
              },
            }
          : {}),
      }),
    );
    sending.complete(r);
    const last = r.parts.at(-1);
    return {
      send: last?.send,
      wait: last?.wait,
      status: 'complete',
      payment_hash: r.paymentHash,
      payment_preimage: r.paymentPreimage,
      spontaneous: r.spontaneous,
      destination,
      amount_msat: amountMsat,
      amount_sent_msat: r.amountSentMsat,
      fee_msat: r.feeMsat,
      parts: r.parts.length,
      paths: new Set(r.parts.map((part) => part.path.map((h) => h.short_channel_id_dir).join())).size,
      attempts: r.parts.reduce((n, part) => n + part.attempts, 0),
      method: last?.method,
      message_bytes: message.length,
      route: (last?.path ?? []).map((h) => ({
        short_channel_id_dir: h.short_channel_id_dir,
        node_id: h.node_id_out,
        amount_msat: h.amount_out_msat,
      })),
      failures: r.parts.flatMap((part) => part.failures.map(failureView)),
    };
  } catch (e) {
    if (!(e instanceof SendError)) {
      await sending.unsure(e);
      throw e;
    }
    sending.failed({ code: LNMSG_ERRORS[e.kind], message: e.message });
    throw new MethodError(LNMSG_ERRORS[e.kind], e.message, { failures: e.failures.map(failureView) });
  } finally {
    progress.delete(key);
  }
}

interface Payee {
  destination: string;
  paymentHash?: string;
  amountMsat: number;
  invoice?: Invoice;
}

/** The payee named by `destination`, `payment_hash` (none: keysend) and `amount_msat` (or `msatoshi`). */
function payee(p: Record<string, unknown>): Payee {
  return {
    destination: param.pubkey(p, 'destination'),
    paymentHash:
      p.payment_hash === undefined || p.payment_hash === null ? undefined : param.hash(p, 'payment_hash'),
    amountMsat: param.msat(p, p.amount_msat !== undefined ? 'amount_msat' : 'msatoshi', { min: 1 }),
  };
}

/** The payee named by the invoice `bolt11`, which also names the hash (and the amount, unless it leaves it to amount_msat). */
async function invoicePayee(p: Record<string, unknown>, ctx: PluginContext, sender: Sender): Promise<Payee> {
  const bolt11 = param.invoice(p, 'bolt11');
  for (const name of ['destination', 'payment_hash'])
    if (p[name] !== undefined && p[name] !== null)
      throw new MethodError(INVALID_PARAMS, `${name}: the invoice names it: give bolt11 alone`);
  const invoice = await readInvoice(ctx.rpc, bolt11, await sender.nodeInfo(), Date.now() / 1000);
  return {
    destination: invoice.payee,
    paymentHash: invoice.paymentHash,
    amountMsat: invoiceAmount(invoice, p),
    invoice,
  };
}
