import { randomBytes } from 'node:crypto';
import { type Rpc, RpcError, UNKNOWN_COMMAND } from '../cln/rpc.js';
import { toHex } from '../wire/bytes.js';

/**
 * A fresh askrene layer named for `what` and the payment, or undefined where the node has no
 * askrene (it routes with getroute then, which takes no layers).
 */
export async function createLayer(rpc: Rpc, what: string, paymentHash: string): Promise<string | undefined> {
  const layer = `${what}-${paymentHash.slice(0, 16)}-${toHex(randomBytes(4))}`;
  try {
    await rpc.call('askrene-create-layer', { layer });
    return layer;
  } catch (e) {
    if (e instanceof RpcError && e.code === UNKNOWN_COMMAND) return undefined;
    throw e;
  }
}

/** Removes a layer; one already gone (or a node gone) is no matter: it was only ours. */
export async function removeLayer(rpc: Rpc, layer: string): Promise<void> {
  await rpc.call('askrene-remove-layer', { layer }).catch(() => {});
}
