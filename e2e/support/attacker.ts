import { RpcError } from '../../src/cln/rpc.js';
import { encodeFinalPayload, type FinalPayload, toHex, withLengthPrefix } from '../../src/index.js';
import type { Network } from './network.js';

/** What an HTLC of one's own onion came to: settled, or the final node's failure as lightningd decrypted it. */
export interface Outcome {
  settled: boolean;
  /** 1: the peer the HTLC went to (the final node) sent the failure. */
  erringIndex?: number;
  failcode?: number;
  /** The failure message's bytes, hex: code, its fields, and anything after them. */
  rawMessage?: string;
}

/** CLTV blocks the HTLC gets: well above a payee's final CLTV delta (18 by default). */
const FINAL_DELAY = 30;

/**
 * Node `from` pays its peer `to` one HTLC on `paymentHash` in an onion of its own making, as a
 * routing node next to the payee can: `final` gives the final payload's TLV (no length prefix) for
 * the CLTV the HTLC carries. Sent with `sendonion` over their channel; `waitsendpay` decrypts the
 * failure with the onion's shared secrets.
 */
export async function ownOnion(
  net: Network,
  from: number,
  to: number,
  paymentHash: string,
  amountMsat: number,
  final: (cltv: number) => Uint8Array,
): Promise<Outcome> {
  const [{ blockheight }, id] = await Promise.all([
    net.call<{ blockheight: number }>(from, 'getinfo'),
    net.id(to),
  ]);
  // sendonion: the HTLC's CLTV is the height + 1 + first_hop.delay (OBSERVED.md).
  const cltv = blockheight + 1 + FINAL_DELAY;
  const onion = await net.call<{ onion: string; shared_secrets: string[] }>(from, 'createonion', {
    hops: [{ pubkey: id, payload: toHex(withLengthPrefix(final(cltv))) }],
    assocdata: paymentHash,
  });
  await net.call(from, 'sendonion', {
    onion: onion.onion,
    first_hop: { id, amount_msat: amountMsat, delay: FINAL_DELAY },
    payment_hash: paymentHash,
    shared_secrets: onion.shared_secrets,
  });
  try {
    await net.call(from, 'waitsendpay', { payment_hash: paymentHash, timeout: 120 });
    return { settled: true };
  } catch (e) {
    if (!(e instanceof RpcError)) throw e;
    const d = (e.data ?? {}) as { erring_index?: number; failcode?: number; raw_message?: string };
    return { settled: false, erringIndex: d.erring_index, failcode: d.failcode, rawMessage: d.raw_message };
  }
}

/** A final payload as lnmsg's own encoder writes it: `amountMsat`, the HTLC's CLTV, then `more`. */
export function finalPayload(
  amountMsat: number,
  more: Omit<FinalPayload, 'amtToForward' | 'outgoingCltvValue'> = {},
): (cltv: number) => Uint8Array {
  return (cltv) => encodeFinalPayload({ amtToForward: BigInt(amountMsat), outgoingCltvValue: cltv, ...more });
}
