import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcAcceptedRequest } from '../../src/cln/hook-types.js';
import { encodeFinalPayload, type FinalPayload, toHex, withLengthPrefix } from '../../src/index.js';
import { lightningdMessages } from './recorded.js';

/** The final-hop `htlc_accepted` params node 3 got in the recorded sendonion run. */
export function recordedFinalHtlc(): HtlcAcceptedRequest & Record<string, unknown> {
  const hook = lightningdMessages('htlc-accepted-sendonion.jsonl').find(
    (m) => m.rec.node === 3 && m.msg.method === 'htlc_accepted',
  );
  if (!hook) throw new Error('no recorded final-hop htlc_accepted');
  return hook.msg.params as unknown as HtlcAcceptedRequest & Record<string, unknown>;
}

export interface HtlcVariant {
  paymentHash: string;
  payload: FinalPayload | string;
  amountMsat?: number;
  id?: number;
  channel?: string;
  cltvRelative?: number;
}

let nextId = 1000;

/**
 * The recorded request (`base`, read from the fixture unless given) with our own values in its
 * fields (hash, payload, amount, HTLC id, channel, expiry).
 */
export function htlcRequest(v: HtlcVariant, base = recordedFinalHtlc()): HtlcAcceptedRequest {
  const payload =
    typeof v.payload === 'string' ? v.payload : toHex(withLengthPrefix(encodeFinalPayload(v.payload)));
  const relative = v.cltvRelative ?? base.htlc.cltv_expiry_relative;
  const height = base.htlc.cltv_expiry - base.htlc.cltv_expiry_relative;
  return {
    ...base,
    onion: { ...base.onion, payload },
    htlc: {
      ...base.htlc,
      payment_hash: v.paymentHash,
      amount_msat: v.amountMsat ?? 1000,
      id: v.id ?? nextId++,
      short_channel_id: v.channel ?? base.htlc.short_channel_id,
      cltv_expiry: height + relative,
      cltv_expiry_relative: relative,
    },
  };
}

export function preimageAndHash(): { preimage: Uint8Array; hash: string } {
  const preimage = randomBytes(32);
  return { preimage, hash: toHex(sha256(preimage)) };
}
