import type { Invoice } from '../store/messages.js';
import { fromHex, toHex } from '../wire/bytes.js';
import type { DecodedHopPayload } from '../wire/hop-payload.js';
import type { NodeInvoice } from './node-invoices.js';
import { keysendPreimage, sameSecret } from './parts.js';

/**
 * Whom an HTLC carrying lnmsg's records pays, as far as it proves it:
 * - `hash`: a payment hash lnmsg handed out (the seed's flow); the hash is the credential, and lnmsg
 *   settles with the preimage it keeps;
 * - `invoice`: an invoice (lnmsg's or any of lightningd's), proven by its payment secret in the HTLC;
 *   lightningd settles it;
 * - `keysend`: a hash nobody here knows, with a preimage that hashes to it; lnmsg settles it.
 */
export type Payee =
  | { kind: 'hash'; inv: Invoice; preimage: Uint8Array }
  | { kind: 'invoice'; inv: Invoice; paid: boolean }
  | { kind: 'keysend'; preimage: Uint8Array };

export interface ProofSources {
  /** lnmsg's own record of a hash it handed out. */
  ours(paymentHash: string): Promise<Invoice | undefined>;
  /** lightningd's invoice for the hash, of any kind. */
  node(paymentHash: string): Promise<NodeInvoice | undefined>;
}

/**
 * The payee an HTLC proves, or undefined when it proves none: then it gets lightningd's answer to
 * an unknown hash, whatever the hash is. A keysend preimage is no credential on an invoice's hash:
 * once an invoice is paid, every node on its route knows the preimage, never the secret.
 */
export async function provenPayee(
  paymentHash: string,
  payload: DecodedHopPayload,
  src: ProofSources,
): Promise<Payee | undefined> {
  const ours = await src.ours(paymentHash);
  if (ours?.preimage) return { kind: 'hash', inv: ours, preimage: fromHex(ours.preimage) };
  // lnmsg's invoice keeps its secret; lightningd's record says whether it was paid meanwhile.
  if (ours?.paymentSecret && !sameSecret(payload, fromHex(ours.paymentSecret))) return undefined;
  const node = await src.node(paymentHash);
  if (node) {
    const secret = node.paymentSecret ?? (ours?.paymentSecret ? fromHex(ours.paymentSecret) : undefined);
    if (!secret || !sameSecret(payload, secret)) return undefined;
    return { kind: 'invoice', inv: billOf(paymentHash, node, ours), paid: node.status === 'paid' };
  }
  // lightningd lists no invoice lnmsg made (deleted, say): it fails the parts itself once handed
  // on, and the store then says so (settlement); nothing settles without lightningd.
  if (ours?.paymentSecret) return { kind: 'invoice', inv: ours, paid: false };
  if (ours) return undefined;
  const preimage = keysendPreimage(payload, paymentHash);
  return preimage ? { kind: 'keysend', preimage } : undefined;
}

/** One of lightningd's invoices as lnmsg keeps an invoice (with lnmsg's own options, if it made it). */
function billOf(paymentHash: string, node: NodeInvoice, ours: Invoice | undefined): Invoice {
  return {
    paymentHash,
    paymentSecret: node.paymentSecret ? toHex(node.paymentSecret) : ours?.paymentSecret,
    amountMsat: Math.max(ours?.amountMsat ?? 0, node.amountMsat ?? 0),
    label: node.label,
    createdAt: ours?.createdAt ?? 0,
    hold: ours?.hold ?? false,
    expiresAt: node.expiresAt,
  };
}
