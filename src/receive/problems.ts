import { incorrectOrUnknownPaymentDetails } from '../onion/failure.js';
import { encodeRefusal, type RefusalCause } from '../wire/refusal.js';
import type { Refused } from './message-set.js';

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
