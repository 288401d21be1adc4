import { bigSizeLength } from '../wire/bigsize.js';
import { tlvRecordSize } from '../wire/tlv.js';
import { truncatedLength } from '../wire/truncated.js';
import { HMAC_SIZE, HOP_PAYLOADS_SIZE } from './sphinx.js';

/** The record other message-over-payment tools use for the message text. */
export const DEFAULT_MESSAGE_TLV_TYPE = 34349334n;

export interface CapacityOptions {
  /** TLV type of the message record. */
  tlvType?: bigint;
  /** Amount every hop's payload carries (fees ignored): sets the width of amt_to_forward. */
  amountMsat?: bigint;
  /** The CLTV value payloads carry (block height plus deltas): sets the width of outgoing_cltv_value. */
  blockheight?: number;
  /**
   * Whether the onion starts with a payload for the sender itself. `injectpaymentonion` (how
   * xkeysend and xpay send) processes the onion as if it came from a peer, so it needs one;
   * `sendonion` (how lnmsg sends) takes the first hop outside the onion and does not.
   */
  senderHop?: boolean;
  /** Bytes of other final-hop records (payment_data, signature, ...) besides the message record. */
  extraFinalBytes?: number;
}

export const CAPACITY_DEFAULTS = {
  tlvType: DEFAULT_MESSAGE_TLV_TYPE,
  amountMsat: 1_000_000n,
  blockheight: 900_000,
  senderHop: false,
  extraFinalBytes: 0,
} as const;

/** Bytes of payment_data (type 8: an invoice's 32-byte secret, then the truncated total) in a final payload. */
export function paymentDataBytes(totalMsat: bigint): number {
  return tlvRecordSize(8n, 32 + truncatedLength(totalMsat));
}

function amountAndCltvBytes(amountMsat: bigint, blockheight: number): number {
  return 2 + truncatedLength(amountMsat) + 2 + truncatedLength(BigInt(blockheight));
}

/** Bytes a forwarding hop's payload takes in the onion: length, amount, cltv, scid, and its HMAC. */
export function intermediateHopSize(amountMsat: bigint, blockheight: number): number {
  const tlv = amountAndCltvBytes(amountMsat, blockheight) + 2 + 8;
  return bigSizeLength(tlv) + tlv + HMAC_SIZE;
}

/** Bytes the final hop's payload takes in the onion for a message of `messageBytes`. */
export function finalHopSize(messageBytes: number, o: Required<CapacityOptions>): number {
  const tlv =
    amountAndCltvBytes(o.amountMsat, o.blockheight) +
    o.extraFinalBytes +
    tlvRecordSize(o.tlvType, messageBytes);
  return bigSizeLength(tlv) + tlv + HMAC_SIZE;
}

/**
 * The most message bytes that fit in one HTLC's final-hop payload for a route of `hops` (nodes
 * after the sender, payee included). Returns -1 when not even an empty message fits.
 */
export function maxMessageBytes(hops: number, options: CapacityOptions = {}): number {
  if (!Number.isInteger(hops) || hops < 1)
    throw new RangeError(`hops must be a whole number >= 1, got ${hops}`);
  const o = { ...CAPACITY_DEFAULTS, ...options };
  const forwarders = hops - 1 + (o.senderHop ? 1 : 0);
  const budget = HOP_PAYLOADS_SIZE - forwarders * intermediateHopSize(o.amountMsat, o.blockheight);
  let m = budget - finalHopSize(0, o);
  // Length prefixes grow by a few bytes as the message grows: step down to the exact fit.
  while (m > 0 && finalHopSize(m, o) > budget) m--;
  return m >= 0 && finalHopSize(m, o) <= budget ? m : -1;
}
