import { z } from 'zod';
import { nodeIdProblem, param, paymentHashProblem } from '../cln/params.js';
import { INVALID_PARAMS, MethodError } from '../cln/plugin.js';
import { type Rpc, RpcError } from '../cln/rpc.js';

/**
 * BOLT 11 currency prefixes of the networks lightningd runs on (its chainparams). lightningd's
 * `decode` reads an invoice of any network as valid (OBSERVED), so lnmsg compares them itself.
 */
const CURRENCY: Record<string, string> = {
  bitcoin: 'bc',
  testnet: 'tb',
  testnet4: 'tb',
  signet: 'tbs',
  regtest: 'bcrt',
  liquid: 'ex',
  'liquid-regtest': 'ert',
};

const nodeId = z.string().refine((v) => nodeIdProblem(v) === undefined, 'not a node id');
const count = z.number().int().nonnegative();

/** One channel of a route hint, as `decode` shows it. */
const HintHop = z.object({
  pubkey: nodeId,
  short_channel_id: z.string().regex(/^\d+x\d+x\d+$/),
  fee_base_msat: count,
  fee_proportional_millionths: count,
  cltv_expiry_delta: count,
});
type RouteHintHop = z.infer<typeof HintHop>;

/** A channel an invoice's route hint names, from `source` to `destination`, with its fees and CLTV delta. */
export interface HintedChannel extends Omit<RouteHintHop, 'pubkey'> {
  source: string;
  destination: string;
}

/**
 * The channels of an invoice's route hints: each hop's from its node to the next hop's node, the
 * last one's to the payee. Those of this node are left out (askrene knows them: auto.localchans),
 * and a channel named twice is kept once.
 */
export function hintedChannels(routes: RouteHintHop[][], payee: string, self: string): HintedChannel[] {
  const channels = new Map<string, HintedChannel>();
  for (const route of routes) {
    route.forEach(({ pubkey, ...hop }, i) => {
      if (pubkey !== self && !channels.has(hop.short_channel_id))
        channels.set(hop.short_channel_id, {
          ...hop,
          source: pubkey,
          destination: route[i + 1]?.pubkey ?? payee,
        });
    });
  }
  return [...channels.values()];
}

/** The fields of lightningd's `decode` of a BOLT 11 invoice that paying it takes. */
const Decoded = z.object({
  currency: z.string(),
  created_at: count,
  expiry: count,
  payee: nodeId,
  amount_msat: z.number().int().positive().optional(),
  description: z.string().optional(),
  min_final_cltv_expiry: count,
  payment_secret: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  payment_metadata: z
    .string()
    .regex(/^(?:[0-9a-f]{2})*$/)
    .optional(),
  routes: z.array(z.array(HintHop)).optional(),
  payment_hash: z.string().refine((v) => paymentHashProblem(v) === undefined),
});

export interface Invoice {
  bolt11: string;
  payee: string;
  paymentHash: string;
  paymentSecret: string;
  amountMsat?: number;
  minFinalCltv: number;
  description?: string;
  paymentMetadata?: string;
  /** Its route hints, as channels to tell askrene of. */
  hints: HintedChannel[];
}

const refuse = (why: string): never => {
  throw new MethodError(INVALID_PARAMS, `bolt11: ${why}`);
};

/**
 * The invoice `bolt11`, read by lightningd's `decode` and checked before anything is sent: a BOLT 11
 * invoice, valid, for this node's network, not expired at `now` (unix seconds), with a payment
 * secret, and another node's. Each refusal says why (-32602).
 */
export async function readInvoice(
  rpc: Rpc,
  bolt11: string,
  node: { id: string; network: string },
  now: number,
): Promise<Invoice> {
  let reply: { type?: unknown; valid?: unknown };
  try {
    reply = await rpc.call('decode', { string: bolt11 });
  } catch (e) {
    if (!(e instanceof RpcError && e.code === INVALID_PARAMS)) throw e;
    return refuse(`lightningd cannot read this invoice: ${e.reason}`);
  }
  if (reply.type !== 'bolt11 invoice')
    refuse(`lightningd reads it as ${JSON.stringify(reply.type)}, not a BOLT 11 invoice`);
  if (reply.valid !== true) refuse('lightningd says the invoice is not valid');
  const parsed = Decoded.safeParse(reply);
  if (!parsed.success)
    return refuse(
      `the invoice's ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')} cannot be used`,
    );
  const d = parsed.data;
  const expected = CURRENCY[node.network];
  if (expected !== undefined && d.currency !== expected)
    refuse(`the invoice is for another network (prefix ln${d.currency}); this node runs on ${node.network}`);
  const expiresAt = d.created_at + d.expiry;
  if (now >= expiresAt) refuse(`the invoice expired ${Math.floor(now - expiresAt)} seconds ago`);
  if (d.payment_secret === undefined)
    refuse('the invoice has no payment secret (BOLT 11 requires one): lnmsg does not pay it');
  if (d.payee === node.id) refuse("the invoice is this node's own: lnmsg sends messages to other nodes");
  return {
    bolt11,
    payee: d.payee,
    paymentHash: d.payment_hash,
    paymentSecret: d.payment_secret as string,
    ...(d.amount_msat === undefined ? {} : { amountMsat: d.amount_msat }),
    minFinalCltv: d.min_final_cltv_expiry,
    ...(d.description === undefined ? {} : { description: d.description }),
    ...(d.payment_metadata === undefined ? {} : { paymentMetadata: d.payment_metadata }),
    hints: hintedChannels(d.routes ?? [], d.payee, node.id),
  };
}

/**
 * What to pay on `invoice`: its own amount, or `amount_msat` when it names none. An amount_msat
 * that disagrees with the invoice's is refused: an operator who typed one expects it paid, and
 * the invoice says otherwise.
 */
export function invoiceAmount(invoice: Invoice, p: Record<string, unknown>): number {
  const name = p.amount_msat !== undefined ? 'amount_msat' : 'msatoshi';
  const given = p[name] === undefined || p[name] === null ? undefined : param.msat(p, name, { min: 1 });
  if (invoice.amountMsat === undefined) {
    if (given === undefined)
      throw new MethodError(INVALID_PARAMS, `${name}: the invoice names no amount: give amount_msat`);
    return given;
  }
  if (given !== undefined && given !== invoice.amountMsat)
    throw new MethodError(
      INVALID_PARAMS,
      `${name}: the invoice asks for ${invoice.amountMsat} msat, not ${given}: leave amount_msat out`,
    );
  return invoice.amountMsat;
}
