import { randomBytes } from 'node:crypto';
import { type Rpc, RpcError, UNKNOWN_COMMAND } from '../cln/rpc.js';
import { createLayer, removeLayer } from './askrene-layer.js';
import { INVALID_PARAMS } from '../cln/plugin.js';
import { decodeFailureMessage, failureCodeName, NODE, PERM } from '../onion/failure.js';
import { HOP_PAYLOADS_SIZE, hopPayloadsSize, type OnionHop } from '../onion/sphinx.js';
import { fromHex, toHex } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';
import { decodeRefusal, type Refusal } from '../wire/refusal.js';
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
  /** Called as each HTLC of this request goes out, just before its command, in the same tick. */
  onDispatch?: () => void;
  /** Awaited just before an HTLC leaves (the outbox claim): what it throws stops the send unsent. */
  claimed?: Promise<unknown>;
  /** The message record's type, to name it when a payee cannot read it. */
  tlvType?: bigint;
  /** This node's id and block height, when the caller already asked. */
  node?: NodeInfo;
  /** A path the caller already found, for the first attempt. */
  firstPath?: PathHop[];
  /** askrene layers the payee gave (an invoice's route hints), on every route. */
  layers?: readonly string[];
}

/** What lnmsg reads of getinfo. */
export interface NodeInfo {
  id: string;
  blockheight: number;
  network: string;
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
  /** Stops the group's other HTLCs with `e`, unless it stopped already; returns why it stopped. */
  stop(e: SendError): SendError {
    this.stopped ??= e;
    return this.stopped;
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
  /** What an lnmsg payee said of its refusal (BOLT 4 extra bytes). */
  refusal?: Refusal;
}

/** A failure as RPC results show it: Core Lightning's snake_case. */
export function failureView(f: Failure) {
  return {
    attempt: f.attempt,
    ...(f.erringIndex === undefined ? {} : { erring_index: f.erringIndex }),
    ...(f.erringNode === undefined ? {} : { erring_node: f.erringNode }),
    ...(f.erringChannel === undefined ? {} : { erring_channel: f.erringChannel }),
    ...(f.code === undefined ? {} : { failcode: f.code }),
    failcodename: f.codeName,
    message: f.message,
    ...(f.refusal
      ? { payee_cause: f.refusal.cause, ...(f.refusal.reason ? { payee_reason: f.refusal.reason } : {}) }
      : {}),
  };
}

/** What the payee's failure most likely means, in an operator's words. */
export function payeeSays(f: Failure, tlvType: bigint): string {
  const r = f.refusal;
  switch (r?.cause) {
    case 'unknown_hash':
      return 'the payee does not know this payment hash (was it made by that node?)';
    case 'expired':
      return 'the payment hash expired at the payee: ask it for a new one';
    case 'already_paid':
      return 'this payment hash was already paid: a payment settles once';
    case 'amount_too_low':
      return `the amount is below what the payee asked (${r.reason ?? 'more'})`;
    case 'too_large':
      return `the message is over the payee's limit (${r.reason ?? 'smaller'})`;
    case 'refused':
      return `the payee refused the message: ${r.reason ?? 'no reason given'}`;
    case 'no_spontaneous':
      return 'the payee takes no spontaneous messages: ask it for a payment hash';
    case 'storage_full':
      return "the payee's room for spontaneous messages is full";
    case 'malformed':
      return 'the payee could not read the message (malformed, or parts that do not fit together)';
    case 'expiry_too_soon':
      return 'the payment would expire too soon for the payee';
  }
  if (f.code === (PERM | 22))
    return `the payee does not run lnmsg, or does not take message record ${tlvType}: it could not read the payment`;
  if (f.code === (PERM | 15))
    return 'the payee does not know this payment hash (wrong, expired or already paid), or the amount is below what it asked';
  if (f.code === 23) return 'the payee did not get every part of the message in time';
  return `the payee refused the payment`;
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

export function alreadyPaid(paymentHash: string): SendError {
  return new SendError(
    `payment_hash ${paymentHash} is already paid: a payment settles once, so this message was not sent`,
    [],
    'refused',
  );
}

/** lightningd's PAY_RHASH_ALREADY_USED (common/jsonrpc_errors.h). */
const PAY_RHASH_ALREADY_USED = 201;

/**
 * How lightningd refuses a sendonion part on a hash it already paid (lightningd/pay.c
 * check_progress), other than by answering the paid part's success: "Already succeeded other
 * parts", "... with amount ...", "... to <node>". Nothing is sent.
 */
function alreadySucceeded(e: unknown): boolean {
  return (
    e instanceof RpcError && e.code === PAY_RHASH_ALREADY_USED && e.reason.startsWith('Already succeeded')
  );
}

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
  /** v26.06's sendonion takes the whole payment's amount; v24.11's refuses the parameter. */
  private sendonionTakesTotal = true;
  /** getinfo's last answer: the id never changes while lightningd runs; the height is kept by `blockAdded`. */
  private known?: NodeInfo;
  /** A getinfo asked and not answered yet. */
  private asking?: Promise<NodeInfo>;
  /** The highest block lightningd announced (block_added). */
  private notifiedHeight = 0;

  constructor(
    private readonly rpc: Rpc,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /**
   * getinfo, asked once and shared by every send, its height then kept by lightningd's
   * block_added notifications (`blockAdded`), as xpay keeps its own: a message costs lightningd
   * (one command at a time) no getinfo, and none runs while askrene asks lightningd for the
   * node's channels. `fresh` asks anew (after a failed attempt: lightningd's view is the one the
   * payee's failure is measured against).
   */
  nodeInfo(fresh = false): Promise<NodeInfo> {
    if (!fresh && this.known) return Promise.resolve(this.current(this.known));
    if (!fresh && this.asking) return this.asking;
    const asking: Promise<NodeInfo> = this.rpc
      .call<NodeInfo>('getinfo')
      .then((info) => {
        this.known = info;
        return this.current(info);
      })
      .finally(() => {
        if (this.asking === asking) this.asking = undefined;
      });
    this.asking = asking;
    return asking;
  }

  /** lightningd's `block_added` notification: later sends count their CLTVs from this height. */
  blockAdded(height: number): void {
    this.notifiedHeight = Math.max(this.notifiedHeight, height);
  }

  /** A block announced before or after getinfo answered is not undone by its answer. */
  private current(info: NodeInfo): NodeInfo {
    return { ...info, blockheight: Math.max(info.blockheight, this.notifiedHeight) };
  }

  /** This node's id once any getinfo told it, so a route can be asked for before getinfo answers. */
  knownId(): string | undefined {
    return this.known?.id;
  }

  async send(req: SendRequest): Promise<SendResult> {
    let info = req.node ?? (await this.nodeInfo());
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
      const hops = this.fittingHops(path, info.blockheight, req);
      const result = await this.sendonion(path, hops, req, attempt);
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
        throw req.group.stop(
          new SendError(
            failure.erringIndex === undefined
              ? `the payment failed and no node can be blamed: ${failure.message}`
              : `${payeeSays(failure, req.tlvType ?? 34349334n)} (${describe(failure)})`,
            failures,
            'refused',
          ),
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
      // The height moves on (and right after a node restart getinfo reports the rescan's for a while).
      info = await this.nodeInfo(true);
      attempt++;
    }
  }

  /** Drops what the group's HTLCs learned (its askrene layer): when the message is done, or to start afresh. */
  async forget(group: PaymentGroup): Promise<void> {
    const layer = await group.layer;
    group.layer = undefined;
    if (layer) await removeLayer(this.rpc, layer);
  }

  /** A fresh askrene layer, or undefined where askrene is missing (then failures only pause). */
  private async createLayer(paymentHash: string): Promise<string | undefined> {
    return this.getroutesSupported ? createLayer(this.rpc, 'lnmsg', paymentHash) : undefined;
  }

  async route(self: string, req: SendRequest, layer?: string, failures: Failure[] = []): Promise<PathHop[]> {
    if (this.getroutesSupported) {
      try {
        const { routes } = await this.rpc.call<{ routes: GetroutesRoute[] }>('getroutes', {
          source: self,
          destination: req.destination,
          amount_msat: req.amountMsat,
          layers: ['auto.localchans', 'auto.sourcefree', ...(req.layers ?? []), ...(layer ? [layer] : [])],
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

  /** The onion's hops over `path`, once they are known to fit in it. */
  private fittingHops(path: PathHop[], blockheight: number, req: SendRequest): OnionHop[] {
    const hops = onionHops(path, blockheight, req.final);
    const size = hopPayloadsSize(hops.map((h) => h.payload));
    if (size > HOP_PAYLOADS_SIZE) {
      throw new SendError(
        `the message needs ${size - HOP_PAYLOADS_SIZE} bytes more than a ${path.length}-hop onion holds`,
        [],
        'too-large',
        path,
      );
    }
    return hops;
  }

  private async createOnion(hops: OnionHop[], req: SendRequest) {
    return this.rpc.call<{ onion: string; shared_secrets: string[] }>('createonion', {
      hops: hops.map((h) => ({ pubkey: toHex(h.pubkey), payload: toHex(h.payload) })),
      assocdata: req.paymentHash,
    });
  }

  private async sendonion(
    path: PathHop[],
    hops: OnionHop[],
    req: SendRequest,
    attempt: number,
  ): Promise<Attempt> {
    const first = path[0] as PathHop;
    const onion = await this.createOnion(hops, req);
    await req.claimed;
    // The payee refused another part meanwhile: this one would only be refused too.
    if (req.group.stopped) throw req.group.stopped;
    // Nothing awaited from here to the sendonion call: what onDispatch sends goes ahead of it.
    req.onDispatch?.();
    const partid = req.group.nextPartId();
    const call = () =>
      this.rpc.call('sendonion', {
        onion: onion.onion,
        first_hop: { id: first.node_id_out, amount_msat: first.amount_out_msat, delay: first.cltv_out },
        payment_hash: req.paymentHash,
        shared_secrets: onion.shared_secrets,
        amount_msat: req.amountMsat,
        destination: req.destination,
        partid,
        groupid: req.group.id,
        ...(req.totalMsat === undefined || !this.sendonionTakesTotal
          ? {}
          : { total_amount_msat: req.totalMsat }),
      });
    // A hash lightningd paid before: it sends nothing, and waitsendpay would not tell this message's fate.
    const paid = () => req.group.stop(alreadyPaid(req.paymentHash));
    const send = await call()
      .catch((e: unknown) => {
        // Refused unsent (a parameter older nodes lack): send it again without.
        if (!(e instanceof RpcError && e.code === INVALID_PARAMS && /total_amount_msat/.test(e.message)))
          throw e;
        this.sendonionTakesTotal = false;
        return call();
      })
      .catch((e: unknown) => {
        throw alreadySucceeded(e) ? paid() : e;
      });
    // The paid part's own success, answered again (a fresh part is "pending").
    if ((send as { status?: unknown }).status === 'complete') throw paid();
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
        raw_message?: string;
      };
      // lightningd knows no route for a sendonion: the erring node and channel come from ours.
      const i = d.erring_index;
      const refusal = i === path.length && d.raw_message ? refusalIn(d.raw_message) : undefined;
      return {
        ok: false,
        failure: {
          attempt,
          erringIndex: i,
          erringNode:
            d.erring_node ??
            (i === undefined ? undefined : i === 0 ? first.node_id_in : path[i - 1]?.node_id_out),
          erringChannel:
            d.erring_channel ??
            (i === undefined ? undefined : path[Math.min(i, path.length - 1)]?.short_channel_id_dir),
          code: d.failcode,
          codeName: d.failcode === undefined ? 'unknown' : failureCodeName(d.failcode),
          message: e.message,
          ...(refusal ? { refusal } : {}),
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

/** An lnmsg payee's refusal in the failure message lightningd decrypted for us, if any. */
function refusalIn(rawMessage: string): Refusal | undefined {
  try {
    const trailing = decodeFailureMessage(fromHex(rawMessage)).trailing;
    return trailing ? decodeRefusal(trailing) : undefined;
  } catch (e) {
    if (e instanceof CodecError) return undefined;
    throw e;
  }
}

export function describe(f: Failure): string {
  const where = [
    f.erringNode ? `node ${f.erringNode}` : undefined,
    f.erringChannel ? `channel ${f.erringChannel}` : undefined,
  ].filter(Boolean);
  return `${f.codeName}${f.code === undefined ? '' : ` (0x${f.code.toString(16)})`}${where.length ? ` at ${where.join(', ')}` : ''}`;
}

/** A `block_added` notification (`{hash, height}`): the sender counts CLTVs from the new height. */
export function blockAdded(sender: Sender | undefined, payload: unknown): void {
  const height = (payload as { height?: unknown } | undefined)?.height;
  if (sender && Number.isSafeInteger(height) && (height as number) > 0) sender.blockAdded(height as number);
}
