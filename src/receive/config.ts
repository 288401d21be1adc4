import type { Decider } from './decider.js';

export interface ReceiverConfig {
  tlvType: bigint;
  /** This node's id: signatures cover it, so a message signed for someone else does not verify. */
  nodeId: Uint8Array;
  maxMessageBytes: number;
  minAmountMsat: number;
  /** Least blocks left before the HTLC expires for lnmsg to settle it. */
  minFinalCltv: number;
  /** Blocks kept in hand when holding an HTLC for a decision. */
  holdSafetyBlocks: number;
  /** Longest a held HTLC waits for accept/reject, in seconds. */
  holdTimeoutSeconds: number;
  /** How long the parts of a multi-part message wait for the rest. */
  mppTimeoutSeconds: number;
  /** Bytes of spontaneous (unsolicited) messages kept at most; past it new ones are refused. */
  maxStoredBytes: number;
  /** Whether spontaneous messages are taken at all. */
  spontaneous: 'accept' | 'refuse';
  /** How long a payment hash stays payable unless its maker says otherwise, in seconds. */
  expirySeconds: number;
  /** A signature whose timestamp is further than this from the arrival does not verify. */
  maxClockSkewSeconds: number;
  /** Decides every message before it settles (a local command or URL), if set. */
  decider?: Decider;
}

export const RECEIVER_DEFAULTS = {
  maxMessageBytes: 65536,
  minAmountMsat: 1,
  // Half of lightningd's default cltv-final (18): enough to settle, and settling is immediate.
  minFinalCltv: 9,
  holdSafetyBlocks: 6,
  holdTimeoutSeconds: 600,
  mppTimeoutSeconds: 60,
  maxStoredBytes: 64 * 1024 * 1024,
  spontaneous: 'accept' as const,
  // As lightningd's invoices.
  expirySeconds: 604_800,
  maxClockSkewSeconds: 600,
};

/** Longest a payment hash may stay payable: a year. */
export const MAX_EXPIRY_SECONDS = 31_536_000;
