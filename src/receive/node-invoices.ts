import { z } from 'zod';
import type { Rpc } from '../cln/rpc.js';
import { fromHex } from '../wire/bytes.js';

/** What lnmsg needs of one of lightningd's own invoices. */
export interface NodeInvoice {
  label: string;
  /** A BOLT 11 invoice's payment secret; absent where lnmsg cannot read one (BOLT 12, say). */
  paymentSecret?: Uint8Array;
  status: 'unpaid' | 'paid' | 'expired';
  expiresAt: number;
  /** The amount it asks; absent for "any". */
  amountMsat?: number;
}

/**
 * What lightningd did with a payment hash's HTLCs: paid its invoice, still holds some (a hook,
 * a set still collecting), or released them all unpaid.
 */
export type Settlement = 'paid' | 'pending' | 'released';

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
      amount_msat: z.number().int().optional(),
      bolt11: z.string().optional(),
    }),
  ),
});
const ListPeerChannels = z.object({
  channels: z.array(
    z.object({ htlcs: z.array(z.object({ direction: z.string(), payment_hash: z.string() })).optional() }),
  ),
});
const Decoded = z.object({ payment_secret: hex32.optional() });
const Created = z.object({
  bolt11: z.string(),
  payment_hash: hex32,
  payment_secret: hex32,
  expires_at: z.number().int(),
});

/** Secrets remembered (an invoice's never changes); unknown hashes are always asked again. */
const CACHE = 1000;

/**
 * lightningd's invoices, as lnmsg sees them: made with `invoice`, found by payment hash with their
 * payment secret (from `decode` of the bolt11: `listinvoices` does not show it).
 */
export class NodeInvoices {
  private readonly secrets = new Map<string, Uint8Array | undefined>();

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

  /** lightningd's invoice for this hash, of any kind, if it has one. */
  async find(paymentHash: string): Promise<NodeInvoice | undefined> {
    const list = ListInvoices.parse(await this.rpc.call('listinvoices', { payment_hash: paymentHash }));
    const inv = list.invoices.find((i) => i.payment_hash === paymentHash);
    if (!inv) return undefined;
    let secret = this.secrets.get(paymentHash);
    if (!this.secrets.has(paymentHash) && inv.bolt11) {
      const decoded = Decoded.parse(await this.rpc.call('decode', { string: inv.bolt11 }));
      secret = decoded.payment_secret ? fromHex(decoded.payment_secret) : undefined;
      this.secrets.set(paymentHash, secret);
      if (this.secrets.size > CACHE) this.secrets.delete(this.secrets.keys().next().value as string);
    }
    return {
      label: inv.label,
      ...(secret ? { paymentSecret: secret } : {}),
      status: inv.status,
      expiresAt: inv.expires_at,
      ...(inv.amount_msat === undefined ? {} : { amountMsat: inv.amount_msat }),
    };
  }

  /**
   * Whether lightningd paid this hash's invoice, still holds HTLCs of it, or let them all go. Asked
   * only for payments whose outcome lnmsg missed (never on an HTLC's path): it lists every channel.
   */
  async settlement(paymentHash: string): Promise<Settlement> {
    const inv = await this.find(paymentHash);
    if (inv?.status === 'paid') return 'paid';
    const { channels } = ListPeerChannels.parse(await this.rpc.call('listpeerchannels'));
    const held = channels.some((c) =>
      (c.htlcs ?? []).some((h) => h.direction === 'in' && h.payment_hash === paymentHash),
    );
    return held ? 'pending' : 'released';
  }
}
