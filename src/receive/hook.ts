import { CONTINUE, HtlcAcceptedRequest, type HtlcAcceptedResult } from '../cln/hook-types.js';
import type { Receiver } from './receiver.js';

/**
 * The `htlc_accepted` hook. Every HTLC the node handles passes here, so anything that does not
 * parse as a request lnmsg understands is not ours: lightningd carries on with it.
 */
export function htlcAccepted(
  receiver: Receiver | undefined,
  payload: unknown,
): HtlcAcceptedResult | Promise<HtlcAcceptedResult> {
  const req = HtlcAcceptedRequest.safeParse(payload);
  if (!req.success || !receiver) return CONTINUE;
  return receiver.onHtlcAccepted(req.data);
}
