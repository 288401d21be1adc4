import { CONTINUE, type HtlcAcceptedRequest } from '../../src/cln/hook-types.js';
import { Plugin } from '../../src/cln/plugin.js';

/**
 * A routing node's plugin for the end-to-end suite (`e2e/support/stall-forwards`): it sits on the
 * first forwarded HTLCs of a payment hash it is told to stall, then fails them, as a node on a
 * payment's route can. Every other HTLC goes on at once.
 */
const TEMPORARY_NODE_FAILURE = '2002';
const stalls = new Map<string, { left: number; ms: number }>();

await new Plugin()
  .method(
    'e2e-stall',
    { usage: 'payment_hash seconds [count]', description: 'hold the next `count` (1) forwards of a hash' },
    (p) => {
      stalls.set(String(p.payment_hash), { left: Number(p.count ?? 1), ms: Number(p.seconds) * 1000 });
      return { stalling: p.payment_hash };
    },
  )
  .hook('htlc_accepted', { fallback: CONTINUE }, async (payload) => {
    const { onion, htlc } = payload as HtlcAcceptedRequest;
    const stall = stalls.get(htlc.payment_hash);
    if (onion.short_channel_id === undefined || !stall || stall.left === 0) return CONTINUE;
    stall.left--;
    await new Promise((r) => setTimeout(r, stall.ms));
    return { result: 'fail', failure_message: TEMPORARY_NODE_FAILURE };
  })
  .run();
