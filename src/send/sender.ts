import { randomBytes } from 'node:crypto';
import { type Rpc, RpcError, UNKNOWN_COMMAND } from '../cln/rpc.js';
import { decodeFailureMessage, decryptFailureReply, failureCodeName, NODE } from '../onion/failure.js';
import { HOP_PAYLOADS_SIZE, hopPayloadsSize } from '../onion/sphinx.js';
import { fromHex, toHex } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';
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
  method: 'injectpaymentonion' | 'sendonion';
  send: unknown;
  wait: unknown;
}

/** A send that ended without the payment settling. */
export class SendError extends Error {
  constructor(
    message: string,
    readonly failures: Failure[],
    readonly kind: 'refused' | 'no-route' | 'too-large' | 'timeout',
  ) {
    super(message);
  }
}

const INVALID_PARAMS = -32602;
const ONION_REPLY_UNDECRYPTED = 218;
const ALREADY_PAID = 219;

interface Attempt {
  ok: boolean;
  preimage?: string;
  failure?: Failure;
  send?: unknown;
  wait?: unknown;
}

/**
 * Pays a payment hash with a custom final payload: askrene routes, `createonion` builds,
 * `injectpaymentonion` (or `sendonion` on older nodes) sends, and each failure teaches askrene
 * something before the next try.
 */
export class Sender {
  private injectSupported = true;
  private injectTakesDestination = true;
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
      const senderHop = this.injectSupported;
      this.checkFits(path, info.blockheight, req, senderHop);
      const result = await this.attempt(path, info.blockheight, req, attempt);
      if (result.ok) {
        const first = path[0] as PathHop;
        const sent = senderHop ? first.amount_in_msat : first.amount_out_msat;
        return {
          paymentPreimage: result.preimage as string,
          path,
          attempts: attempt,
          failures,
          feeMsat: sent - req.amountMsat,
          amountSentMsat: sent,
          method: this.injectSupported ? 'injectpaymentonion' : 'sendonion',
          send: result.send,
          wait: result.wait,
        };
      }
      const failure = { ...(result.failure as Failure), attempt };
      failures.push(failure);
      this.log(`attempt ${attempt} failed: ${describe(failure)}`);
      if (failure.erringIndex === path.length) {
        throw new SendError(`the payee refused the payment: ${describe(failure)}`, failures, 'refused');
      }
      if (failure.erringIndex === undefined) {
        throw new SendError(
          `the payment failed and no node can be blamed: ${failure.message}`,
          failures,
          'refused',
        );
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

  /** Whether the onions this node sends start with its own hop (true while injectpaymentonion works). */
  get sendsWithOwnHop(): boolean {
    return this.injectSupported;
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

  private checkFits(path: PathHop[], blockheight: number, req: SendRequest, senderHop: boolean): void {
    const size = hopPayloadsSize(onionHops(path, blockheight, req.final, senderHop).map((h) => h.payload));
    if (size > HOP_PAYLOADS_SIZE) {
      throw new SendError(
        `the message needs ${size - HOP_PAYLOADS_SIZE} bytes more than a ${path.length}-hop onion holds`,
        [],
        'too-large',
      );
    }
  }

  private async attempt(
    path: PathHop[],
    blockheight: number,
    req: SendRequest,
    attempt: number,
  ): Promise<Attempt> {
    if (this.injectSupported) {
      try {
        return await this.inject(path, blockheight, req);
      } catch (e) {
        if (!(e instanceof RpcError && e.code === UNKNOWN_COMMAND)) throw e;
        this.injectSupported = false;
      }
    }
    return this.sendonion(path, blockheight, req, attempt);
  }

  private async createOnion(path: PathHop[], blockheight: number, req: SendRequest, senderHop: boolean) {
    const hops = onionHops(path, blockheight, req.final, senderHop);
    return this.rpc.call<{ onion: string; shared_secrets: string[] }>('createonion', {
      hops: hops.map((h) => ({ pubkey: toHex(h.pubkey), payload: toHex(h.payload) })),
      assocdata: req.paymentHash,
    });
  }

  private async inject(path: PathHop[], blockheight: number, req: SendRequest): Promise<Attempt> {
    const first = path[0] as PathHop;
    const onion = await this.createOnion(path, blockheight, req, true);
    req.onDispatch?.();
    const params = {
      onion: onion.onion,
      payment_hash: req.paymentHash,
      amount_msat: first.amount_in_msat,
      cltv_expiry: blockheight + first.cltv_in,
      partid: req.group.nextPartId(),
      groupid: req.group.id,
      destination_msat: req.amountMsat,
    };
    const call = () =>
      this.rpc.call<{ payment_preimage: string }>('injectpaymentonion', {
        ...params,
        ...(this.injectTakesDestination ? { destination: req.destination } : {}),
      });
    try {
      const send = await call().catch((e: unknown) => {
        // Before v26.06 injectpaymentonion had no `destination`: refused unsent, so send it again without.
        if (!(e instanceof RpcError && e.code === INVALID_PARAMS && /destination/.test(e.message))) throw e;
        this.injectTakesDestination = false;
        return call();
      });
      return { ok: true, preimage: send.payment_preimage, send, wait: { status: 'complete', ...send } };
    } catch (e) {
      if (!(e instanceof RpcError) || e.code === UNKNOWN_COMMAND) throw e;
      const paid = (e.data as { payment_preimage?: string } | undefined)?.payment_preimage;
      if (e.code === ALREADY_PAID && paid) return { ok: true, preimage: paid, send: e.data, wait: e.data };
      const reply = (e.data as { onionreply?: string } | undefined)?.onionreply;
      if (e.code !== ONION_REPLY_UNDECRYPTED || !reply) {
        return {
          ok: false,
          failure: { attempt: 0, erringIndex: 0, codeName: 'local_failure', message: e.message },
        };
      }
      return { ok: false, failure: decodeReply(path, onion.shared_secrets, reply) };
    }
  }

  private async sendonion(
    path: PathHop[],
    blockheight: number,
    req: SendRequest,
    attempt: number,
  ): Promise<Attempt> {
    const first = path[0] as PathHop;
    const onion = await this.createOnion(path, blockheight, req, false);
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

/** Decrypts an `injectpaymentonion` failure (code 218) with the onion's shared secrets. */
export function decodeReply(path: PathHop[], sharedSecrets: string[], reply: string): Failure {
  try {
    const f = decryptFailureReply(
      sharedSecrets.map((s) => fromHex(s)),
      fromHex(reply, 'onionreply'),
    );
    const msg = decodeFailureMessage(f.failureMessage);
    // The onion starts with our own hop, so its index is waitsendpay's erring_index: 0 is us.
    const hop = path[f.hopIndex];
    return {
      attempt: 0,
      erringIndex: f.hopIndex,
      erringNode: f.hopIndex === 0 ? path[0]?.node_id_in : path[f.hopIndex - 1]?.node_id_out,
      erringChannel: hop?.short_channel_id_dir ?? path.at(-1)?.short_channel_id_dir,
      code: msg.code,
      codeName: msg.codeName,
      message: `${msg.codeName} from hop ${f.hopIndex}`,
    };
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    return {
      attempt: 0,
      codeName: 'unreadable_reply',
      message: `failure reply could not be decrypted: ${e.message}`,
    };
  }
}

export function describe(f: Failure): string {
  const where = [
    f.erringNode ? `node ${f.erringNode}` : undefined,
    f.erringChannel ? `channel ${f.erringChannel}` : undefined,
  ].filter(Boolean);
  return `${f.codeName}${f.code === undefined ? '' : ` (0x${f.code.toString(16)})`}${where.length ? ` at ${where.join(', ')}` : ''}`;
}
