import { randomBytes } from 'node:crypto';
import { type Rpc, RpcError } from '../cln/rpc.js';
import { failureCodeName, NODE } from '../onion/failure.js';
import { HOP_PAYLOADS_SIZE, hopPayloadsSize } from '../onion/sphinx.js';
import { toHex } from '../wire/bytes.js';
import {
  type FinalContents,
  type GetroutesRoute,
  onionHops,
  type PathHop,
  pathFromGetroute,
  pathFromGetroutes,
} from './route.js';

export interface SendRequest {
  destination: string;
  paymentHash: string;
  amountMsat: number;
  final: FinalContents;
  retryForSeconds: number;
  maxFeeMsat: number;
  finalCltv: number;
  /** One group per message; every HTLC (part or retry) takes a fresh part id in it. */
  group: PaymentGroup;
  /** For a part of a multi-part payment: the whole payment's amount. */
  totalMsat?: number;
  /** Called as each HTLC of this request goes out. */
  onDispatch?: () => void;
  /** This node's id and block height, when the caller already asked. */
  node?: { id: string; blockheight: number };
  /** A path the caller already found, for the first attempt. */
  firstPath?: PathHop[];
}

export class PaymentGroup {
  private lastPartId = 0;
  readonly id = randomBytes(4).readUInt32BE() >>> 1;
  /**
   * The askrene layer every HTLC of the message learns in, so a channel one part found full or
   * failing is avoided by the others (they then spread over other paths).
   */
  layer?: Promise<string | undefined>;
  /** Set once the payee refused one HTLC: the others stop trying (the payment cannot complete). */
  stopped?: SendError;
  nextPartId(): number {
    return ++this.lastPartId;
  }
}

export interface Failure {
  attempt: number;
  erringIndex?: number;
  erringNode?: string;
  erringChannel?: string;
  code?: number;
  codeName: string;
  message: string;
}

export interface SendResult {
  paymentPreimage: string;
  path: PathHop[];
  attempts: number;
  failures: Failure[];
  feeMsat: number;
  amountSentMsat: number;
  method: 'sendonion';
  send: unknown;
  wait: unknown;
}

/** A send that ended without the payment settling. */
export class SendError extends Error {
  constructor(
    message: string,
    readonly failures: Failure[],
    readonly kind: 'refused' | 'no-route' | 'too-large' | 'timeout' | 'invalid',
    /** For `too-large`: the path the contents did not fit. */
    readonly path?: PathHop[],
  ) {
    super(message);
  }
}

const UNKNOWN_COMMAND = -32601;

interface Attempt {
  ok: boolean;
  preimage?: string;
  failure?: Failure;
  send?: unknown;
  wait?: unknown;
}

/**
 * Pays a payment hash with a custom final payload: askrene routes, `createonion` builds,
 * `sendonion` sends with the first hop outside the onion (so the onion's 1300 bytes are all for
 * the hops after it), and each failure teaches askrene something before the next try.
 */
export class Sender {
  private getroutesSupported = true;

  constructor(
    private readonly rpc: Rpc,
    private readonly log: (message: string) => void = () => {},
  ) {}

  async send(req: SendRequest): Promise<SendResult> {
    const info = req.node ?? (await this.rpc.call<{ id: string; blockheight: number }>('getinfo'));
    const deadline = Date.now() + req.retryForSeconds * 1000;
    const failures: Failure[] = [];
    let pauses = 0;
    // After a failure the network may recover (a peer reconnecting, a channel unjamming): wait and
    // try again, with what askrene learned forgotten, until retry_for runs out.
    const pauseAndForget = async () => {
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** pauses++, deadline - Date.now())));
      await this.forget(req.group);
    };
    for (let attempt = 1; ;) {
      if (req.group.stopped) throw req.group.stopped;
      let path: PathHop[];
      try {
        path =
          attempt === 1 && req.firstPath
            ? req.firstPath
            : await this.route(info.id, req, await req.group.layer, failures);
      } catch (e) {
        const last = failures.at(-1);
        if (!(e instanceof SendError && e.kind === 'no-route' && last)) throw e;
        if (Date.now() >= deadline) {
          throw new SendError(
            `gave up after ${attempt - 1} attempts (retry_for ${req.retryForSeconds}s): no route left; last: ${describe(last)}`,
            failures,
            'timeout',
          );
        }
        await pauseAndForget();
        continue;
      }
      this.checkFits(path, info.blockheight, req);
      const result = await this.sendonion(path, info.blockheight, req, attempt);
      if (result.ok) {
        const sent = (path[0] as PathHop).amount_out_msat;
        return {
          paymentPreimage: result.preimage as string,
          path,
          attempts: attempt,
          failures,
          feeMsat: sent - req.amountMsat,
          amountSentMsat: sent,
          method: 'sendonion',
          send: result.send,
          wait: result.wait,
        };
      }
      const failure = { ...(result.failure as Failure), attempt };
      failures.push(failure);
      this.log(`attempt ${attempt} failed: ${describe(failure)}`);
      if (failure.erringIndex === path.length || failure.erringIndex === undefined) {
        req.group.stopped ??= new SendError(
          failure.erringIndex === undefined
            ? `the payment failed and no node can be blamed: ${failure.message}`
            : `the payee refused the payment: ${describe(failure)}`,
          failures,
          'refused',
        );
        throw req.group.stopped;
      }
      if (Date.now() >= deadline) {
        throw new SendError(
          `gave up after ${attempt} attempts (retry_for ${req.retryForSeconds}s); last: ${describe(failure)}`,
          failures,
          'timeout',
        );
      }
      req.group.layer ??= this.createLayer(req.paymentHash);
      const layer = await req.group.layer;
      if (layer) await this.learn(layer, path, failure);
      else await pauseAndForget();
      attempt++;
    }
  }

  /** Drops what the group's HTLCs learned (its askrene layer): when the message is done, or to start afresh. */
  async forget(group: PaymentGroup): Promise<void> {
    const layer = await group.layer;
    group.layer = undefined;
    if (layer) await this.rpc.call('askrene-remove-layer', { layer }).catch(() => {});
  }

  /** A fresh askrene layer, or undefined where askrene is missing (then failures only pause). */
  private async createLayer(paymentHash: string): Promise<string | undefined> {
    if (!this.getroutesSupported) return undefined;
    const layer = `lnmsg-${paymentHash.slice(0, 16)}-${toHex(randomBytes(4))}`;
    try {
      await this.rpc.call('askrene-create-layer', { layer });
      return layer;
    } catch (e) {
      if (e instanceof RpcError && e.code === UNKNOWN_COMMAND) return undefined;
      throw e;
    }
  }

  async route(self: string, req: SendRequest, layer?: string, failures: Failure[] = []): Promise<PathHop[]> {
    if (this.getroutesSupported) {
      try {
        const { routes } = await this.rpc.call<{ routes: GetroutesRoute[] }>('getroutes', {
          source: self,
          destination: req.destination,
          amount_msat: req.amountMsat,
          layers: ['auto.localchans', 'auto.sourcefree', ...(layer ? [layer] : [])],
          maxfee_msat: req.maxFeeMsat,
          final_cltv: req.finalCltv,
        });
        // A message rides one HTLC: take the most probable single path.
        const single = routes.find((r) => r.path.length > 0);
        if (single && routes.length === 1) return pathFromGetroutes(self, single);
        throw new SendError(
          `askrene split ${req.amountMsat} msat over ${routes.length} paths; lnmsg sends one HTLC: try a smaller amount`,
          failures,
          'no-route',
        );
      } catch (e) {
        if (e instanceof RpcError && e.code === UNKNOWN_COMMAND) this.getroutesSupported = false;
        else if (e instanceof RpcError) throw new SendError(`no route: ${e.message}`, failures, 'no-route');
        else throw e;
      }
    }
    try {
      const { route } = await this.rpc.call<{ route: Parameters<typeof pathFromGetroute>[1] }>('getroute', {
        id: req.destination,
        amount_msat: req.amountMsat,
        riskfactor: 1,
        cltv: req.finalCltv,
      });
      return pathFromGetroute(self, route);
    } catch (e) {
      if (e instanceof RpcError) throw new SendError(`no route: ${e.message}`, failures, 'no-route');
      throw e;
    }
  }

  private checkFits(path: PathHop[], blockheight: number, req: SendRequest): void {
    const size = hopPayloadsSize(onionHops(path, blockheight, req.final).map((h) => h.payload));
    if (size > HOP_PAYLOADS_SIZE) {
      throw new SendError(
        `the message needs ${size - HOP_PAYLOADS_SIZE} bytes more than a ${path.length}-hop onion holds`,
        [],
        'too-large',
        path,
      );
    }
  }

  private async createOnion(path: PathHop[], blockheight: number, req: SendRequest) {
    const hops = onionHops(path, blockheight, req.final);
    return this.rpc.call<{ onion: string; shared_secrets: string[] }>('createonion', {
      hops: hops.map((h) => ({ pubkey: toHex(h.pubkey), payload: toHex(h.payload) })),
      assocdata: req.paymentHash,
    });
  }

  private async sendonion(
    path: PathHop[],
    blockheight: number,
    req: SendRequest,
    attempt: number,
  ): Promise<Attempt> {
    const first = path[0] as PathHop;
    const onion = await this.createOnion(path, blockheight, req);
    req.onDispatch?.();
    const partid = req.group.nextPartId();
    const send = await this.rpc.call('sendonion', {
      onion: onion.onion,
      first_hop: { id: first.node_id_out, amount_msat: first.amount_out_msat, delay: first.cltv_out },
      payment_hash: req.paymentHash,
      shared_secrets: onion.shared_secrets,
      amount_msat: req.amountMsat,
      destination: req.destination,
      partid,
      groupid: req.group.id,
      ...(req.totalMsat === undefined ? {} : { total_amount_msat: req.totalMsat }),
    });
    try {
      const wait = await this.rpc.call<{ payment_preimage: string }>('waitsendpay', {
        payment_hash: req.paymentHash,
        partid,
        groupid: req.group.id,
      });
      return { ok: true, preimage: wait.payment_preimage, send, wait };
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
      const d = (e.data ?? {}) as {
        erring_index?: number;
        erring_node?: string;
        erring_channel?: string;
        failcode?: number;
      };
      return {
        ok: false,
        failure: {
          attempt,
          erringIndex: d.erring_index,
          erringNode: d.erring_node,
          erringChannel: d.erring_channel,
          code: d.failcode,
          codeName: d.failcode === undefined ? 'unknown' : failureCodeName(d.failcode),
          message: e.message,
        },
      };
    }
  }

  /** Tells askrene what the failure showed, so the next route avoids it. */
  private async learn(layer: string, path: PathHop[], f: Failure): Promise<void> {
    const i = f.erringIndex ?? 0;
    const hop = path[i];
    if (!hop) return;
    if (f.code !== undefined && f.code & NODE && i > 0) {
      await this.rpc.call('askrene-disable-node', { layer, node: hop.node_id_in });
    } else {
      // Off for the rest of this message, not just "constrained": the parts all carry about the
      // same amount, a full channel (no HTLC slot left) is full for every one of them, and
      // v24.11's askrene kept routing over a constrained local channel.
      await this.rpc.call('askrene-update-channel', {
        layer,
        short_channel_id_dir: hop.short_channel_id_dir,
        enabled: false,
      });
    }
  }
}

export function describe(f: Failure): string {
  const where = [
    f.erringNode ? `node ${f.erringNode}` : undefined,
    f.erringChannel ? `channel ${f.erringChannel}` : undefined,
  ].filter(Boolean);
  return `${f.codeName}${f.code === undefined ? '' : ` (0x${f.code.toString(16)})`}${where.length ? ` at ${where.join(', ')}` : ''}`;
}
