import * as prompts from '@clack/prompts';
import { setTimeout as sleep } from 'node:timers/promises';
import { countProblem, countValue, invoiceProblem, msatValue } from '../cln/params.js';
import { toHex, utf8 } from '../wire/bytes.js';
import type { NodeConnection } from './connection.js';
import { CliError, EXIT } from './exit.js';
import { ask, checked, type MessageFlags, messageFromFlags, validators } from './input.js';
import { escapeUntrusted } from './safe-text.js';

export interface SendFlags extends MessageFlags {
  /** An invoice to pay (`lnmsg send <bolt11> [message]`): it names the payee, hash and amount. */
  bolt11?: string;
  destination?: string;
  paymentHash?: string;
  amountMsat?: string;
  retryFor?: string;
  maxParts?: string;
  /** false with --no-sign: send without naming and signing as this node. */
  sign: boolean;
  /** Spontaneous: no payment hash from the payee. */
  keysend?: boolean;
  /** Show a progress bar for multi-part messages (a terminal, not --json). */
  progress?: boolean;
}

export interface SendOutcome {
  status: string;
  payment_hash: string;
  payment_preimage: string;
  amount_msat: number;
  amount_sent_msat: number;
  fee_msat: number;
  attempts: number;
  parts: number;
  spontaneous: boolean;
  message_bytes: number;
  route: { short_channel_id_dir: string; node_id: string }[];
}

/** `lnmsg send`: every missing flag is asked for on a terminal, as the seed's sendMessage.py did. */
export async function send(node: NodeConnection, f: SendFlags): Promise<SendOutcome> {
  const value = (
    flag: string,
    given: string | undefined,
    question: string,
    v: (s: string) => string | undefined,
  ) => (given === undefined ? ask(flag, question, v) : Promise.resolve(checked(flag, given, v(given))));
  if (f.bolt11 !== undefined) return sendInvoice(node, f, f.bolt11);
  const destination = await value('--destination', f.destination, 'Payee node id', validators.pubkey);
  if (f.keysend && f.paymentHash !== undefined)
    throw new CliError('--keysend sends without a payment hash', EXIT.usage);
  const paymentHash = f.keysend
    ? undefined
    : await value('--payment-hash', f.paymentHash, 'Payment hash (from lnmsg receive)', validators.hash);
  const amountMsat = await value('--amount-msat', f.amountMsat, 'Amount in msat', validators.msat);
  const message = messageFromFlags(f) ?? utf8.encode(await ask('--message', 'Message', validators.message));
  const call = node.call<SendOutcome>('sendmessage', {
    destination: destination.toLowerCase(),
    ...(paymentHash ? { payment_hash: paymentHash.toLowerCase() } : {}),
    amount_msat: msatValue(amountMsat),
    ...sendOptions(f, message),
  });
  return f.progress && paymentHash ? withProgress(node, paymentHash.toLowerCase(), call) : call;
}

/** The sendmessage parameters every form of `lnmsg send` passes the same way. */
function sendOptions(f: SendFlags, message: Uint8Array) {
  const count = (flag: string, v: string | undefined) =>
    v === undefined ? undefined : countValue(checked(flag, v, countProblem(v, { min: 1 })));
  return {
    message_hex: toHex(message),
    sign: f.sign,
    ...(f.retryFor === undefined ? {} : { retry_for: count('--retry-for', f.retryFor) }),
    ...(f.maxParts === undefined ? {} : { max_parts: count('--max-parts', f.maxParts) }),
  };
}

/**
 * `lnmsg send <bolt11> [message]`: the plugin reads and checks the invoice; `--amount-msat` only
 * for one that names no amount. The message comes from the argument, a flag, or the prompt.
 */
async function sendInvoice(node: NodeConnection, f: SendFlags, bolt11: string): Promise<SendOutcome> {
  checked('<invoice>', bolt11, invoiceProblem(bolt11));
  if (f.destination !== undefined || f.paymentHash !== undefined || f.keysend)
    throw new CliError(
      'an invoice names the payee and the payment hash: give no --destination, --payment-hash or --keysend',
      EXIT.usage,
    );
  const message = messageFromFlags(f) ?? utf8.encode(await ask('--message', 'Message', validators.message));
  const amountMsat =
    f.amountMsat === undefined
      ? undefined
      : checked('--amount-msat', f.amountMsat, validators.msat(f.amountMsat));
  const call = node.call<SendOutcome>('sendmessage', {
    bolt11,
    ...(amountMsat === undefined ? {} : { amount_msat: msatValue(amountMsat) }),
    ...sendOptions(f, message),
  });
  if (!f.progress) return call;
  // The progress bar follows the hash; a string lightningd cannot read gets the plugin's refusal.
  const decoded = await node
    .call<{ payment_hash?: string }>('decode', { string: bolt11 })
    .catch(() => ({}) as { payment_hash?: string });
  return decoded.payment_hash ? withProgress(node, decoded.payment_hash, call) : call;
}

/** How long every HTLC must have been out before the payer is told the payee is deciding. */
const DECIDING_AFTER_MS = 2000;

/**
 * Polls while the send runs: a bar once the message turns out to need parts, and a word when
 * every HTLC has been out a while, as when the payee holds the payment to decide on it.
 */
async function withProgress<T>(node: NodeConnection, paymentHash: string, call: Promise<T>): Promise<T> {
  let bar: ReturnType<typeof prompts.progress> | undefined;
  let shown = 0;
  let allOutSince: number | undefined;
  let told = false;
  let finished = false;
  const poll = async () => {
    while (!finished) {
      const s = await node
        .call<{ sent: number; parts: number } | null>('sendmessage_status', { payment_hash: paymentHash })
        .catch(() => null);
      if (s && s.parts > 1) {
        if (!bar) {
          bar = prompts.progress({ max: s.parts, output: process.stderr });
          bar.start(`sending ${s.parts} parts`);
        }
        const sent = Math.min(s.sent, s.parts);
        if (sent > shown) bar.advance(sent - shown, `${sent}/${s.parts} parts sent, waiting for the payee`);
        shown = Math.max(shown, sent);
      }
      // sendmessage_status counts retries and knows nothing of single parts; lightningd knows what is out.
      const out = told ? 0 : await pendingHtlcs(node, paymentHash);
      allOutSince = out > 0 && out >= (s?.parts ?? 1) ? (allOutSince ?? Date.now()) : undefined;
      if (!told && allOutSince !== undefined && Date.now() - allOutSince >= DECIDING_AFTER_MS) {
        told = true;
        if (bar) bar.message('every part is out: waiting for the payee to decide…');
        else process.stderr.write('waiting for the payee to decide…\n');
      }
      await sleep(200);
    }
  };
  const polling = poll();
  try {
    return await call;
  } finally {
    finished = true;
    await polling;
    bar?.stop('done');
  }
}

/** HTLCs of this payment on their way or held at the payee, as lightningd lists them. */
async function pendingHtlcs(node: NodeConnection, paymentHash: string): Promise<number> {
  const r = await node
    .call<{ payments: { status: string }[] }>('listsendpays', { payment_hash: paymentHash })
    .catch(() => ({ payments: [] }));
  return r.payments.filter((p) => p.status === 'pending').length;
}

/** Lines escaped whole, as in formatMessage: every value in them comes from the node (the preimage from the payee). */
export function formatSend(r: SendOutcome): string {
  return [
    `paid ${r.amount_msat} msat (fee ${r.fee_msat} msat) with a ${r.message_bytes}-byte message` +
      (r.parts > 1 ? ` in ${r.parts} parts` : '') +
      (r.spontaneous ? ' (keysend)' : ''),
    `route: ${r.route.map((h) => h.short_channel_id_dir).join(' -> ')} (${r.route.length} hops, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'})`,
    `payment hash ${r.payment_hash}`,
    `preimage     ${r.payment_preimage}`,
  ]
    .map(escapeUntrusted)
    .join('\n');
}
