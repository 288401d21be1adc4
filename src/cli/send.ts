import { toHex } from '../wire/bytes.js';
import type { NodeConnection } from './connection.js';
import { CliError, EXIT } from './exit.js';
import { ask, type MessageFlags, messageFromFlags, validators } from './input.js';

export interface SendFlags extends MessageFlags {
  destination?: string;
  paymentHash?: string;
  amountMsat?: string;
  retryFor?: string;
}

export interface SendOutcome {
  status: string;
  payment_hash: string;
  payment_preimage: string;
  amount_msat: number;
  amount_sent_msat: number;
  fee_msat: number;
  attempts: number;
  message_bytes: number;
  route: { short_channel_id_dir: string; node_id: string }[];
}

function checked(flag: string, value: string, validate: (v: string) => string | undefined): string {
  const problem = validate(value);
  if (problem) throw new CliError(`${flag} ${JSON.stringify(value)}: ${problem}`, EXIT.usage);
  return value;
}

/** `lnmsg send`: every missing flag is asked for on a terminal, as the seed's sendMessage.py did. */
export async function send(node: NodeConnection, f: SendFlags): Promise<SendOutcome> {
  const value = (
    flag: string,
    given: string | undefined,
    question: string,
    v: (s: string) => string | undefined,
  ) => (given === undefined ? ask(flag, question, v) : Promise.resolve(checked(flag, given, v)));
  const destination = await value('--destination', f.destination, 'Payee node id', validators.pubkey);
  const paymentHash = await value(
    '--payment-hash',
    f.paymentHash,
    'Payment hash (from lnmsg receive)',
    validators.hash,
  );
  const amountMsat = await value('--amount-msat', f.amountMsat, 'Amount in msat', validators.msat);
  const message =
    messageFromFlags(f) ?? new TextEncoder().encode(await ask('--message', 'Message', validators.nonEmpty));
  return node.call<SendOutcome>('sendmessage', {
    destination: destination.toLowerCase(),
    payment_hash: paymentHash.toLowerCase(),
    amount_msat: Number(amountMsat),
    message_hex: toHex(message),
    ...(f.retryFor === undefined
      ? {}
      : { retry_for: Number(checked('--retry-for', f.retryFor, validators.msat)) }),
  });
}

export function formatSend(r: SendOutcome): string {
  return [
    `paid ${r.amount_msat} msat (fee ${r.fee_msat} msat) with a ${r.message_bytes}-byte message`,
    `route: ${r.route.map((h) => h.short_channel_id_dir).join(' -> ')} (${r.route.length} hops, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'})`,
    `payment hash ${r.payment_hash}`,
    `preimage     ${r.payment_preimage}`,
  ].join('\n');
}
