import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcAcceptedRequest, HtlcAcceptedResult } from '../../src/cln/hook-types.js';
import {
  decodeHopPayload,
  encodeUint,
  equalBytes,
  fromHex,
  incorrectOrUnknownPaymentDetails,
  toHex,
} from '../../src/index.js';
import type { InvoicePaymentResult } from '../../src/receive/receiver.js';
import { keysendPlugin } from './keysend-model.js';

/**
 * lightningd (v26.06.6: lightningd/peer_htlcs.c, htlc_set.c, invoice.c, plugin_hook.c) as far as
 * a final hop's HTLCs go: the htlc_accepted hook chain (lnmsg, then the keysend plugin), the
 * final node's checks, htlc_sets with their 70 s timer, the invoice_payment hook and its
 * notification, and what a dying plugin or a restarting node does to calls still pending.
 */

/** The plugin as lightningd calls it (its hooks and the notification it subscribes to). */
export interface PluginPort {
  htlcAccepted(req: HtlcAcceptedRequest): Promise<HtlcAcceptedResult>;
  invoicePayment(params: { payment: InvoicePaid }): Promise<InvoicePaymentResult>;
  invoicePaid(params: InvoicePaid): Promise<void>;
}

/** The invoice_payment hook's `payment` and the notification's `invoice_payment` (recorded on v26.06.6). */
export interface InvoicePaid {
  label: string;
  preimage: string;
  msat: number;
}

export interface ModelInvoice {
  label: string;
  hash: string;
  preimage: Uint8Array;
  secret: Uint8Array;
  amountMsat?: number;
  /** Unix seconds. */
  expiresAt: number;
  status: 'unpaid' | 'paid';
}

export type HtlcState = 'lnmsg' | 'lightningd' | 'settled' | 'failed';

export interface ModelHtlc {
  /** #n in the schedule. */
  n: number;
  key: string;
  hash: string;
  amountMsat: number;
  /** The payload as the payer built it (no length prefix). */
  tlv: Uint8Array;
  req: HtlcAcceptedRequest;
  state: HtlcState;
  failure?: string;
  /** lnmsg's answers to it, one per hook call it answered (JSON). */
  answers: string[];
  /** The current hook call: an answer to an older one is lost (the plugin or node restarted). */
  call: number;
  /** lnmsg died while its htlc_accepted call for this HTLC was pending: lightningd went on without it. */
  orphaned?: boolean;
  what: string;
}

interface HtlcSet {
  hash: string;
  totalMsat: bigint;
  soFar: number;
  htlcs: ModelHtlc[];
  cancelTimer: () => void;
  inv: ModelInvoice;
}

/** The hook calls lnmsg has not answered yet, in the order lightningd made them. */
type Pending = { kind: 'htlc'; htlc: ModelHtlc } | { kind: 'pay'; set: HtlcSet };

export const HTLC_SET_TIMEOUT_MS = 70_000;
const MPP_TIMEOUT = '0017';
const HEX_PAYLOAD_INVALID = '4016';

export class ModelLightningd {
  readonly invoices = new Map<string, ModelInvoice>();
  readonly htlcs: ModelHtlc[] = [];
  readonly sets = new Map<string, HtlcSet>();
  /** invoice_payment notifications not yet delivered to the plugin. */
  notifications: InvoicePaid[] = [];
  private plugin?: PluginPort;
  private epoch = 0;
  private calls = 0;
  private readonly pending = new Map<number, Pending>();
  private keysends = 0;

  constructor(
    /** Unix ms, as the test moves it. */
    private readonly now: () => number,
    readonly height: number,
    private readonly say: (line: string) => void,
    /** What a plugin did that lightningd would die of (a hook that throws). */
    private readonly broken: (why: string) => void,
  ) {}

  /** `invoice` with lnmsg's or the operator's preimage; undefined when the label or hash is taken. */
  createInvoice(p: {
    label: string;
    preimage: Uint8Array;
    amountMsat?: number;
    expirySeconds: number;
  }): ModelInvoice | undefined {
    const hash = toHex(sha256(p.preimage));
    if (this.invoices.has(hash) || [...this.invoices.values()].some((i) => i.label === p.label))
      return undefined;
    const inv: ModelInvoice = {
      label: p.label,
      hash,
      preimage: p.preimage,
      secret: invoiceSecret(p.preimage),
      amountMsat: p.amountMsat,
      expiresAt: Math.floor(this.now() / 1000) + p.expirySeconds,
      status: 'unpaid',
    };
    this.invoices.set(hash, inv);
    return inv;
  }

  expired(inv: ModelInvoice): boolean {
    return inv.status === 'unpaid' && this.now() >= inv.expiresAt * 1000;
  }

  /** listinvoices + listpeerchannels for one hash: paid, HTLCs still held, or all let go. */
  settlement(hash: string): 'paid' | 'pending' | 'released' {
    if (this.invoices.get(hash)?.status === 'paid') return 'paid';
    const held = this.htlcs.some((h) => h.hash === hash && (h.state === 'lnmsg' || h.state === 'lightningd'));
    return held ? 'pending' : 'released';
  }

  /** A plugin (re)started: lightningd calls it from now on. */
  attach(plugin: PluginPort): void {
    this.plugin = plugin;
  }

  /** A new HTLC from a peer, for us: through the hook chain. */
  receive(h: Omit<ModelHtlc, 'state' | 'answers' | 'call'>): ModelHtlc {
    const htlc: ModelHtlc = { ...h, state: 'lnmsg', answers: [], call: 0 };
    this.htlcs.push(htlc);
    this.callHook(htlc);
    return htlc;
  }

  /** The plugin died: lightningd goes on past it as if it answered `continue` to every pending call. */
  pluginDied(): void {
    this.epoch++;
    this.plugin = undefined;
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const c of calls) {
      if (c.kind === 'htlc') {
        c.htlc.orphaned = true;
        this.hooked(c.htlc, { result: 'continue' });
      } else this.paid(c.set, { result: 'continue' });
    }
    // Notifications go to the plugins running when they are sent: none of lnmsg's till it is back.
    this.notifications = [];
  }

  /** lightningd restarted with `plugin`: its sets and calls are gone, every unresolved HTLC is replayed. */
  nodeRestarted(plugin: PluginPort, order: (htlcs: ModelHtlc[]) => ModelHtlc[]): void {
    this.epoch++;
    this.pending.clear();
    this.notifications = [];
    for (const s of this.sets.values()) s.cancelTimer();
    this.sets.clear();
    this.plugin = plugin;
    const unresolved = this.htlcs.filter((h) => h.state === 'lnmsg' || h.state === 'lightningd');
    for (const h of order(unresolved)) {
      h.state = 'lnmsg';
      this.callHook(h);
    }
  }

  /** Delivers the `i`th notification not yet delivered. */
  notify(i: number): Promise<void> | undefined {
    const [note] = this.notifications.splice(i, 1);
    if (!note || !this.plugin) return undefined;
    this.say(`  lightningd notifies invoice_payment ${note.label}`);
    return this.plugin.invoicePaid({ ...note });
  }

  private callHook(h: ModelHtlc): void {
    const call = ++this.calls;
    h.call = call;
    const plugin = this.plugin;
    if (!plugin) return this.hooked(h, { result: 'continue' });
    const epoch = this.epoch;
    this.pending.set(call, { kind: 'htlc', htlc: h });
    plugin.htlcAccepted(h.req).then(
      (answer) => {
        if (epoch !== this.epoch || h.call !== call) return;
        this.pending.delete(call);
        h.answers.push(JSON.stringify(answer));
        this.say(`  lnmsg answers #${h.n} ${h.what}: ${brief(answer)}`);
        this.hooked(h, answer);
      },
      (e: unknown) => this.broken(`[threw] htlc_accepted for #${h.n} threw: ${(e as Error).stack}`),
    );
  }

  /** The rest of the chain after lnmsg's answer. */
  private hooked(h: ModelHtlc, answer: HtlcAcceptedResult): void {
    if (answer.result === 'fail') return this.fail(h, answer.failure_message);
    if (answer.result === 'resolve') {
      if (toHex(sha256(fromHex(answer.payment_key))) !== h.hash) return this.fail(h, '400f');
      return this.fulfil(h);
    }
    const tlv = answer.payload === undefined ? h.tlv : fromHex(answer.payload);
    this.localpay(
      h,
      keysendPlugin(tlv, h.hash, (p) => this.keysendInvoice(p)),
    );
  }

  private keysendInvoice(preimage: Uint8Array): Uint8Array | undefined {
    const label = `keysend-${Math.floor(this.now() / 1000)}.${String(++this.keysends).padStart(9, '0')}`;
    const inv = this.createInvoice({ label, preimage, expirySeconds: 604_800 });
    if (inv) this.say(`  keysend plugin makes invoice ${label}`);
    return inv?.secret;
  }

  /** handle_localpay and htlc_set_add: the final node's checks, then the hash's set. */
  private localpay(h: ModelHtlc, tlv: Uint8Array): void {
    let p: ReturnType<typeof decodeHopPayload>;
    try {
      p = decodeHopPayload(tlv, (t) => t % 2n === 1n);
    } catch {
      return this.fail(h, HEX_PAYLOAD_INVALID);
    }
    if (p.amtToForward === undefined || p.paymentMetadata) return this.fail(h, HEX_PAYLOAD_INVALID);
    if (BigInt(h.amountMsat) < p.amtToForward)
      return this.fail(h, `0013${toHex(encodeUint(BigInt(h.amountMsat), 8))}`);
    const total = p.paymentData?.totalMsat ?? p.amtToForward;
    const secret = p.paymentData?.paymentSecret;
    const inv = this.invoices.get(h.hash);
    const amount = inv?.amountMsat === undefined ? undefined : BigInt(inv.amountMsat);
    if (
      !inv ||
      inv.status !== 'unpaid' ||
      this.expired(inv) ||
      !secret ||
      !equalBytes(secret, inv.secret) ||
      (amount !== undefined && (total < amount || total > 2n * amount))
    )
      return this.fail(h, this.unknown(h));
    let set = this.sets.get(h.hash);
    if (!set) {
      const timer = setTimeout(() => {
        if (this.sets.get(h.hash) !== set) return;
        this.say(`  lightningd: the htlc_set of ${short(h.hash)} timed out`);
        this.failSet(set as HtlcSet, MPP_TIMEOUT);
      }, HTLC_SET_TIMEOUT_MS);
      set = {
        hash: h.hash,
        totalMsat: total,
        soFar: 0,
        htlcs: [],
        inv,
        cancelTimer: () => clearTimeout(timer),
      };
      this.sets.set(h.hash, set);
    }
    set.htlcs.push(h);
    h.state = 'lightningd';
    if (total !== set.totalMsat)
      return this.failSet(set, `0013${toHex(encodeUint(BigInt(h.amountMsat), 8))}`);
    set.soFar += h.amountMsat;
    if (BigInt(set.soFar) < set.totalMsat) return;
    set.cancelTimer();
    this.tryPay(set);
  }

  /** invoice_try_pay: the invoice_payment hook, with the set's sum. */
  private tryPay(set: HtlcSet): void {
    const plugin = this.plugin;
    if (!plugin) return this.paid(set, { result: 'continue' });
    const call = ++this.calls;
    const epoch = this.epoch;
    this.pending.set(call, { kind: 'pay', set });
    this.say(`  lightningd calls invoice_payment ${set.inv.label} (${set.soFar} msat)`);
    const params = { payment: { label: set.inv.label, preimage: toHex(set.inv.preimage), msat: set.soFar } };
    plugin.invoicePayment(params).then(
      (answer) => {
        if (epoch !== this.epoch || !this.pending.delete(call)) return;
        this.say(`  lnmsg answers invoice_payment ${set.inv.label}: ${JSON.stringify(answer)}`);
        this.paid(set, answer);
      },
      (e: unknown) => this.broken(`[threw] invoice_payment threw: ${(e as Error).stack}`),
    );
  }

  /** invoice_payment_hooks_done: pays the invoice and fulfils the set, or fails it. */
  private paid(set: HtlcSet, answer: InvoicePaymentResult): void {
    // The set went meanwhile (another call for it paid it): lightningd ignores this answer.
    if (this.sets.get(set.hash) !== set) return;
    if ('failure_message' in answer) return this.failSet(set, answer.failure_message);
    if (answer.result === 'reject') return this.failSet(set);
    const inv = set.inv;
    if (inv.status !== 'unpaid' || this.expired(inv)) return this.failSet(set);
    inv.status = 'paid';
    this.sets.delete(set.hash);
    for (const h of set.htlcs) this.fulfil(h);
    this.notifications.push({ label: inv.label, preimage: toHex(inv.preimage), msat: set.soFar });
  }

  private failSet(set: HtlcSet, message?: string): void {
    set.cancelTimer();
    this.sets.delete(set.hash);
    for (const h of set.htlcs) this.fail(h, message ?? this.unknown(h));
  }

  private fulfil(h: ModelHtlc): void {
    h.state = 'settled';
    this.say(`  lightningd settles #${h.n}`);
  }

  private fail(h: ModelHtlc, message: string): void {
    h.state = 'failed';
    h.failure = message;
    this.say(`  lightningd fails #${h.n}: ${message.slice(0, 4)}`);
  }

  /** incorrect_or_unknown_payment_details(htlc msat, block height), as lightningd words it. */
  unknown(h: ModelHtlc): string {
    return toHex(incorrectOrUnknownPaymentDetails(BigInt(h.amountMsat), this.height));
  }
}

/** lightningd's payment secret of an invoice made with `preimage` (invoice.c, invoice_secret). */
export function invoiceSecret(preimage: Uint8Array): Uint8Array {
  const modified = Uint8Array.from(preimage);
  modified[0] = (modified[0] as number) ^ 1;
  return sha256(modified);
}

export const short = (hash: string) => hash.slice(0, 8);

function brief(a: HtlcAcceptedResult): string {
  if (a.result === 'fail')
    return `fail ${a.failure_message.slice(0, 4)}${a.failure_message.length > 28 ? ' + lnmsg refusal' : ''}`;
  if (a.result === 'resolve') return 'resolve';
  return a.payload === undefined ? 'continue' : 'continue (rewritten payload)';
}
