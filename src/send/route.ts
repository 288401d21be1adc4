import type { OnionHop } from '../onion/sphinx.js';
import { fromHex } from '../wire/bytes.js';
import {
  encodeFinalPayload,
  encodeIntermediatePayload,
  type PaymentData,
  withLengthPrefix,
} from '../wire/hop-payload.js';
import { scidFromString } from '../wire/scid.js';
import type { TlvRecord } from '../wire/tlv.js';

/** One channel of a route, as askrene's `getroutes` describes it (OBSERVED.md). */
export interface PathHop {
  short_channel_id_dir: string;
  node_id_in: string;
  node_id_out: string;
  amount_in_msat: number;
  amount_out_msat: number;
  cltv_in: number;
  cltv_out: number;
}

export interface FinalContents {
  records: readonly TlvRecord[];
  paymentData?: PaymentData;
  /** An invoice's payment_metadata, handed back to its payee as it asked. */
  paymentMetadata?: Uint8Array;
}

export function channelOf(hop: PathHop): bigint {
  return scidFromString(hop.short_channel_id_dir.split('/')[0] as string);
}

/**
 * The height an onion's CLTVs count from: the node's, plus 1, as Core Lightning's xpay ("in case
 * a block comes in") and sendpay do, so that a block arriving before the HTLC does, or a payee a
 * block ahead, does not leave the payee less than its final CLTV delta.
 */
export function cltvBase(blockheight: number): number {
  return blockheight + 1;
}

function forwardPayload(hop: PathHop, base: number): Uint8Array {
  return withLengthPrefix(
    encodeIntermediatePayload({
      amtToForward: BigInt(hop.amount_out_msat),
      outgoingCltvValue: base + hop.cltv_out,
      shortChannelId: channelOf(hop),
    }),
  );
}

/**
 * Onion hops for a path, for `sendonion`, at the node's `blockheight` (getinfo's; see cltvBase):
 * the first channel is ours and lightningd sends the HTLC over it itself, so the onion starts at
 * the node after it.
 */
export function onionHops(path: readonly PathHop[], blockheight: number, final: FinalContents): OnionHop[] {
  if (path.length === 0) throw new Error('empty route');
  const base = cltvBase(blockheight);
  const last = path[path.length - 1] as PathHop;
  const hops: OnionHop[] = [];
  for (let i = 1; i < path.length; i++) {
    const hop = path[i] as PathHop;
    hops.push({ pubkey: fromHex(hop.node_id_in), payload: forwardPayload(hop, base) });
  }
  hops.push({
    pubkey: fromHex(last.node_id_out),
    payload: withLengthPrefix(
      encodeFinalPayload({
        amtToForward: BigInt(last.amount_out_msat),
        outgoingCltvValue: base + last.cltv_out,
        paymentData: final.paymentData,
        paymentMetadata: final.paymentMetadata,
        customRecords: final.records,
      }),
    ),
  });
  return hops;
}

/** A path element of `getroutes` before v26.06, which named only the far node and the near side. */
interface PreV2606Hop {
  short_channel_id_dir: string;
  next_node_id: string;
  /** What the node at the start of this channel receives (v26.06: amount_in_msat). */
  amount_msat: number;
  /** The CLTV that node expects (v26.06: cltv_in). */
  delay: number;
}

/** One `getroutes` route, in either form. */
export interface GetroutesRoute {
  amount_msat: number;
  final_cltv: number;
  path: (PathHop | PreV2606Hop)[];
}

/**
 * A `getroutes` route as lnmsg uses it. v24.11 to v25.12 give each channel's incoming side only
 * (`next_node_id`, `amount_msat`, `delay`); what leaves a channel is what enters the next one,
 * and the route's own amount and final CLTV for the last.
 */
export function pathFromGetroutes(source: string, route: GetroutesRoute): PathHop[] {
  return route.path.map((hop, i) => {
    if ('node_id_in' in hop) return hop;
    const old = route.path as PreV2606Hop[];
    const next = old[i + 1];
    return {
      short_channel_id_dir: hop.short_channel_id_dir,
      node_id_in: i === 0 ? source : (old[i - 1] as PreV2606Hop).next_node_id,
      node_id_out: hop.next_node_id,
      amount_in_msat: hop.amount_msat,
      amount_out_msat: next ? next.amount_msat : route.amount_msat,
      cltv_in: hop.delay,
      cltv_out: next ? next.delay : route.final_cltv,
    };
  });
}

/** A legacy `getroute` route as a `getroutes` path (for nodes older than v24.08). */
export function pathFromGetroute(
  self: string,
  route: { id: string; channel: string; direction: number; amount_msat: number; delay: number }[],
): PathHop[] {
  return route.map((r, i) => {
    const prev = route[i - 1];
    return {
      short_channel_id_dir: `${r.channel}/${r.direction}`,
      node_id_in: prev ? prev.id : self,
      node_id_out: r.id,
      amount_in_msat: prev ? prev.amount_msat : r.amount_msat,
      amount_out_msat: r.amount_msat,
      cltv_in: prev ? prev.delay : r.delay,
      cltv_out: r.delay,
    };
  });
}
