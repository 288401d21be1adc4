import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Invoice, MessageStore } from '../store/messages.js';
import { toHex } from '../wire/bytes.js';
import type { CreatedInvoice, NodeInvoice, Settlement } from './node-invoices.js';

/** What the payee asks of a payment hash it hands out. */
export interface HashOptions {
  amountMsat?: number;
  label?: string;
  hold?: boolean;
  expirySeconds?: number;
}

/** lightningd's invoices: made with `invoice`, found by payment hash, and what became of their HTLCs. */
export interface InvoiceBook {
  create(p: {
    amountMsat?: number;
    label: string;
    description: string;
    expirySeconds: number;
    preimage: string;
  }): Promise<CreatedInvoice>;
  find(paymentHash: string): Promise<NodeInvoice | undefined>;
  settlement(paymentHash: string): Promise<Settlement>;
}

/** Without lightningd (unit tests of the seed's flow): no invoice of its own is known, and none settles. */
export const NO_INVOICES: InvoiceBook = {
  create: () => Promise.reject(new Error('no lightningd to make invoices')),
  find: () => Promise.resolve(undefined),
  settlement: () => Promise.resolve('released'),
};

/**
 * The payment hashes the payee hands out: the seed's (lnmsg keeps the preimage and settles), and
 * lightningd's BOLT 11 invoices made for a message (lightningd checks the secret and settles).
 */
export class Hashes {
  constructor(
    private readonly store: MessageStore,
    private readonly invoices: InvoiceBook,
    private readonly defaultExpirySeconds: number,
    private readonly now: () => number,
  ) {}

  /** A payment hash for the seed's flow: lnmsg settles it with the preimage it keeps. */
  async newHash(opts: HashOptions): Promise<Invoice & { preimage: string }> {
    const { inv, preimage } = await this.add(opts, (_, p) => ({ preimage: toHex(p) }));
    return { ...inv, preimage: toHex(preimage) };
  }

  /**
   * A BOLT 11 invoice of lightningd's for a message. lnmsg's record of it is written before the
   * invoice exists, so a crash between the two can only leave a record without an invoice (swept
   * at expiry), never an invoice that skips `hold`.
   */
  async newBolt11(opts: HashOptions & { description?: string }): Promise<CreatedInvoice & { label: string }> {
    const { inv, preimage } = await this.add(opts, (hash) => ({
      paymentSecret: '',
      label: opts.label ?? `lnmsg-${hash.slice(0, 16)}`,
    }));
    const label = inv.label as string;
    let made: CreatedInvoice;
    try {
      made = await this.invoices.create({
        amountMsat: opts.amountMsat || undefined,
        label,
        description: opts.description ?? 'a message by lnmsg',
        expirySeconds: opts.expirySeconds ?? this.defaultExpirySeconds,
        preimage: toHex(preimage),
      });
    } catch (e) {
      await this.store.deleteInvoice(inv);
      throw e;
    }
    await this.store.setInvoice({ ...inv, paymentSecret: made.payment_secret });
    return { ...made, label };
  }

  /**
   * Draws a preimage and writes lnmsg's record of its hash before anyone can pay it; `more` adds
   * what the kind of hash keeps (the seed's flow its preimage, an invoice its label and secret).
   */
  private async add(
    opts: HashOptions,
    more: (paymentHash: string, preimage: Uint8Array) => Partial<Invoice>,
  ): Promise<{ inv: Invoice; preimage: Uint8Array }> {
    const preimage = randomBytes(32);
    const paymentHash = toHex(sha256(preimage));
    const createdAt = this.now();
    const inv: Invoice = {
      paymentHash,
      amountMsat: opts.amountMsat ?? 0,
      label: opts.label,
      createdAt,
      hold: opts.hold ?? false,
      expiresAt: createdAt + (opts.expirySeconds ?? this.defaultExpirySeconds),
      ...more(paymentHash, preimage),
    };
    if (!(await this.store.addInvoice(inv))) throw new Error(`payment hash ${paymentHash} already exists`);
    return { inv, preimage };
  }
}
