import type { HtlcAcceptedRequest } from '../cln/hook-types.js';
import { incorrectOrUnknownPaymentDetails } from '../onion/failure.js';
import type { DecodedHopPayload } from '../wire/hop-payload.js';
import { encodeRefusal, type RefusalCause } from '../wire/refusal.js';
import type { ReceiverConfig } from './config.js';
import type { Part, Refused } from './message-set.js';
import type { Payee } from './proof.js';

/** Why an HTLC is refused: `why` for the payee's log, `cause` and `reason` for the payer. */
export interface Problem {
  cause: RefusalCause;
  why: string;
  reason?: string;
}

export function problem(cause: RefusalCause, why: string, reason?: string): Problem {
  return { cause, why, ...(reason ? { reason } : {}) };
}

/**
 * incorrect_or_unknown_payment_details with the cause (and, where it is the payee's to give, a
 * reason) after BOLT 4's fields: only for a payer that proved the payment is its own.
 */
export function refusalMessage(p: Problem, amountMsat: number, height: number): Uint8Array {
  const refusal = encodeRefusal({ cause: p.cause, ...(p.reason ? { reason: p.reason } : {}) });
  return incorrectOrUnknownPaymentDetails(BigInt(amountMsat), height, refusal);
}

/**
 * What lightningd sends for a hash it does not know (failmsg_incorrect_or_unknown: the HTLC's
 * amount and its block height), byte for byte: so an HTLC that proves nothing learns nothing.
 */
export function unknownPayment(amountMsat: number, height: number): Uint8Array {
  return incorrectOrUnknownPaymentDetails(BigInt(amountMsat), height);
}

/** A refused set's answer as a problem: a decision's reason travels to the payer, others only with their cause. */
export function answerProblem(a: Refused): Problem {
  return problem(a.cause, a.reason, a.told);
}

/** Too little paid: the payer is told the least the payee takes. */
export function amountProblem(amountMsat: number, leastMsat: number): Problem | undefined {
  return amountMsat < leastMsat
    ? problem(
        'amount_too_low',
        `amount ${amountMsat} < ${leastMsat} msat asked`,
        `at least ${leastMsat} msat`,
      )
    : undefined;
}

/** Too large: the payer is told the payee's limit. */
export function sizeProblem(bytes: number, max: number): Problem | undefined {
  return bytes > max
    ? problem(
        'too_large',
        `message of ${bytes} bytes > lnmsg-max-message-bytes ${max}`,
        `at most ${max} bytes`,
      )
    : undefined;
}

/** Why this HTLC cannot be (part of) a message, before it joins a set. */
export function partProblem(
  req: HtlcAcceptedRequest,
  payload: DecodedHopPayload,
  payee: Payee,
  part: Part<DecodedHopPayload>,
  isPiece: boolean,
  config: ReceiverConfig,
  nowSeconds: number,
): Problem | undefined {
  const { htlc } = req;
  const inv = payee.kind === 'keysend' ? undefined : payee.inv;
  if (!inv && config.spontaneous === 'refuse')
    return problem('no_spontaneous', 'this node does not take spontaneous messages');
  if (!inv && isPiece) return problem('malformed', 'spontaneous messages are single-part');
  if (inv?.expiresAt !== undefined && nowSeconds > inv.expiresAt)
    return problem('expired', 'this payment hash has expired');
  if (payload.amtToForward !== undefined && BigInt(htlc.amount_msat) < payload.amtToForward) {
    return problem(
      'malformed',
      `HTLC carries ${htlc.amount_msat} msat, the onion says ${payload.amtToForward}`,
    );
  }
  if (htlc.cltv_expiry_relative < config.minFinalCltv) {
    return problem(
      'expiry_too_soon',
      `expires in ${htlc.cltv_expiry_relative} blocks, needs ${config.minFinalCltv}`,
    );
  }
  // A piece states the whole message's size: too large is refused at the first part, not the last.
  return sizeProblem(part.total, config.maxMessageBytes);
}
