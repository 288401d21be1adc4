import { type Rpc, RpcError } from '../cln/rpc.js';
import { createLayer, removeLayer } from './askrene-layer.js';
import type { HintedChannel } from './invoice.js';
import { SendError } from './sender.js';

/** BOLT 7: a channel's direction from `source` is 0 when `source` is the lesser node id. */
function direction(source: string, destination: string): 0 | 1 {
  return source < destination ? 0 : 1;
}

/**
 * Runs `send` with an askrene layer holding an invoice's hinted channels, as xpay makes one (the
 * capacity 100 times the amount and fee, the unknown HTLC limits left open), so getroutes reaches
 * a payee behind unannounced channels; the layer is removed afterwards. No layer without hints, or
 * without askrene.
 */
export async function withRouteHints<T>(
  rpc: Rpc,
  hints: readonly HintedChannel[],
  pay: { paymentHash: string; amountMsat: number; maxFeeMsat: number },
  send: (layers: string[]) => Promise<T>,
): Promise<T> {
  const layer = hints.length > 0 ? await createLayer(rpc, 'lnmsg-hints', pay.paymentHash) : undefined;
  if (!layer) return send([]);
  try {
    const capacity = (pay.amountMsat + pay.maxFeeMsat) * 100;
    for (const hop of hints) {
      await hinted(hop, () =>
        rpc.call('askrene-create-channel', {
          layer,
          source: hop.source,
          destination: hop.destination,
          short_channel_id: hop.short_channel_id,
          capacity_msat: capacity,
        }),
      );
      await hinted(hop, () =>
        rpc.call('askrene-update-channel', {
          layer,
          short_channel_id_dir: `${hop.short_channel_id}/${direction(hop.source, hop.destination)}`,
          enabled: true,
          htlc_minimum_msat: 0,
          htlc_maximum_msat: capacity,
          fee_base_msat: hop.fee_base_msat,
          fee_proportional_millionths: hop.fee_proportional_millionths,
          cltv_expiry_delta: hop.cltv_expiry_delta,
        }),
      );
    }
    return await send([layer]);
  } finally {
    await removeLayer(rpc, layer);
  }
}

/** An askrene call for a hinted channel; its refusal is a route that cannot be taken, said so. */
async function hinted(hop: HintedChannel, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (e) {
    if (!(e instanceof RpcError)) throw e;
    throw new SendError(
      `no route: askrene refused the invoice's route hint ${hop.short_channel_id}: ${e.message}`,
      [],
      'no-route',
    );
  }
}
