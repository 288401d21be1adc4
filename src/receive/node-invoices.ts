import { z } from 'zod';
import type { Rpc } from '../cln/rpc.js';
import { fromHex } from '../wire/bytes.js';

/** What lnmsg needs of one of lightningd's own BOLT 11 invoices. */
export interface NodeInvoice {
  label: string;
  paymentSecret: Uint8Array;
  status: 'unpaid' | 'paid' | 'expired';
  expiresAt: number;
}

/** `invoice`'s reply, under the names lightningd gives it. */
export interface CreatedInvoice {
  bolt11: string;
  payment_hash: string;
  payment_secret: string;
  expires_at: number;
  /** lightningd's `warning_*` fields: e.g. no channel can receive it (then no route hint either). */
  warnings?: Record<string, string>;
}

const hex32 = z.string().regex(/^[0-9a-f]{64}$/);
const ListInvoices = z.object({
  invoices: z.array(
    z.object({
      label: z.string(),
      payment_hash: hex32,
      status: z.enum(['unpaid', 'paid', 'expired']),
      expires_at: z.number().int(),
      bolt11: z.string().optional(),
    }),
  ),
});
const Decoded = z.object({ payment_secret: hex32.optional() });
const Created = z.object({
  bolt11: z.string(),
  payment_hash: hex32,
  payment_secret: hex32,
  expires_at: z.number().int(),
});

/** Found invoices remembered (their secret never changes); unknown hashes are always asked again. */
const CACHE = 1000;

/**
 * lightningd's invoices, as lnmsg sees them: made with `invoice`, found by payment hash with their
 * payment secret (from `decode` of the bolt11: `listinvoices` does not show it).
 */
export class NodeInvoices {
  private readonly secrets = new Map<string, Omit<NodeInvoice, 'status'>>();

  constructor(private readonly rpc: Rpc) {}

  async create(p: {
    amountMsat?: number;
    label: string;
    description: string;
    expirySeconds: number;
    preimage: string;
  }): Promise<CreatedInvoice> {
    const reply = await this.rpc.call('invoice', {
      amount_msat: p.amountMsat ?? 'any',
      label: p.label,
      description: p.description,
      expiry: p.expirySeconds,
      preimage: p.preimage,
    });
    const made = Created.parse(reply);
    const warnings = Object.entries(reply as Record<string, unknown>).filter(
      (e): e is [string, string] => e[0].startsWith('warning_') && typeof e[1] === 'string',
    );
    return warnings.length > 0 ? { ...made, warnings: Object.fromEntries(warnings) } : made;
  }

  /** The invoice for this hash, if lightningd has one (a BOLT 11 one: only those carry a secret). */
  async find(paymentHash: string): Promise<NodeInvoice | undefined> {
    const list = ListInvoices.parse(await this.rpc.call('listinvoices', { payment_hash: paymentHash }));
    const inv = list.invoices.find((i) => i.payment_hash === paymentHash);
    if (!inv?.bolt11) return undefined;
    const known = this.secrets.get(paymentHash);
    if (known) return { ...known, status: inv.status };
    const decoded = Decoded.parse(await this.rpc.call('decode', { string: inv.bolt11 }));
    if (!decoded.payment_secret) return undefined;
    const found = {
      label: inv.label,
      paymentSecret: fromHex(decoded.payment_secret),
      expiresAt: inv.expires_at,
    };
    this.secrets.set(paymentHash, found);
    if (this.secrets.size > CACHE) this.secrets.delete(this.secrets.keys().next().value as string);
    return { ...found, status: inv.status };
  }
}
