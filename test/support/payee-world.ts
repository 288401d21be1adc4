import { sha256 } from '@noble/hashes/sha2.js';
import type { HtlcAcceptedRequest } from '../../src/cln/hook-types.js';
import { toHex, utf8, withLengthPrefix } from '../../src/index.js';
import type { NodeInvoice } from '../../src/receive/node-invoices.js';
import { RECEIVER_DEFAULTS, type ReceiverConfig } from '../../src/receive/config.js';
import type { InvoiceBook } from '../../src/receive/hashes.js';
import { type Decision, Receiver } from '../../src/receive/receiver.js';
import { type Kv, MemoryKv } from '../../src/store/kv.js';
import { MessageStore } from '../../src/store/messages.js';
import { FakeTime, settle } from './fake-time.js';
import { htlcRequest } from './htlc.js';
import { ModelLightningd, type PluginPort, short } from './lightningd-model.js';
import { keysendHash, type ModelPayment, type PayeeHash, type PaymentPlan, plan } from './model-payments.js';

/** Where every schedule starts (any fixed time: a schedule replays alike). */
const START_MS = 1_800_000_000_000;
const GRACE_MS = 10_000;
const CHANNEL: Record<string, string> = { honest: '103x2x0', rival: '105x1x0', forger: '107x1x0' };

export interface WorldOptions {
  /** A decider (lnmsg-decide-command) decides every message. */
  decider: boolean;
}

/** The datastore as one plugin process sees it: once it died, nothing it still does reaches the store. */
class ProcessKv implements Kv {
  alive = true;
  constructor(private readonly kv: Kv) {}
  private run<T>(f: () => Promise<T>): Promise<T> {
    return this.alive ? f() : new Promise<T>(() => {});
  }
  get = (k: string[]) => this.run(() => this.kv.get(k));
  create = (k: string[], v: string) => this.run(() => this.kv.create(k, v));
  replace = (k: string[], v: string, g: number) => this.run(() => this.kv.replace(k, v, g));
  put = (k: string[], v: string) => this.run(() => this.kv.put(k, v));
  list = (k: string[]) => this.run(() => this.kv.list(k));
  children = (k: string[]) => this.run(() => this.kv.children(k));
  delete = (k: string[]) => this.run(() => this.kv.delete(k));
}

/**
 * One schedule's world: lightningd (the model), the payee (lnmsg's Receiver over a datastore that
 * outlives it), the payers, and what happened, in words.
 */
export class World {
  readonly time = new FakeTime(START_MS);
  readonly kv = new MemoryKv();
  readonly transcript: string[] = [];
  readonly broken: string[] = [];
  readonly ln: ModelLightningd;
  readonly hashes: PayeeHash[] = [];
  readonly payments: ModelPayment[] = [];
  /** Decider runs waiting for the test to answer them. */
  deciderCalls: { hash: string; answer: (d: Decision) => void }[] = [];
  /** Hashes the operator or a decider accepted a message on. */
  readonly accepted = new Set<string>();
  /** Hashes the operator deleted an entry of. */
  readonly deleted = new Set<string>();
  autoAccept = false;
  receiver!: Receiver;
  private process!: ProcessKv;
  private epoch = 0;
  private htlcIds = new Map<string, number>();
  private drawn = 0;
  private readonly base: HtlcAcceptedRequest;

  constructor(
    readonly options: WorldOptions,
    base: HtlcAcceptedRequest,
  ) {
    this.base = base;
    const height = base.htlc.cltv_expiry - base.htlc.cltv_expiry_relative;
    this.ln = new ModelLightningd(
      () => this.time.now,
      height,
      (l) => this.say(l),
      (why) => this.broken.push(why),
    );
  }

  /** Payers' random bytes: a schedule replays alike. */
  bytes(n: number): Uint8Array {
    return sha256(utf8.encode(`lnmsg model ${++this.drawn}`)).subarray(0, n);
  }

  say(line: string): void {
    this.transcript.push(line);
  }

  get config(): ReceiverConfig {
    const epoch = this.epoch;
    return {
      ...RECEIVER_DEFAULTS,
      tlvType: 34349334n,
      nodeId: new Uint8Array(33).fill(2),
      ...(this.options.decider ? { decider: (m) => this.decide(epoch, m.paymentHash) } : {}),
    };
  }

  /** lnmsg starts (again) over the datastore. */
  async start(): Promise<void> {
    this.time.install();
    this.ln.attach(await this.startPlugin());
  }

  stop(): void {
    this.receiver.close();
    this.process.alive = false;
    this.time.uninstall();
  }

  private async startPlugin(): Promise<PluginPort> {
    this.epoch++;
    this.process = new ProcessKv(this.kv);
    const receiver = new Receiver(
      new MessageStore(this.process),
      this.config,
      (level, m) => this.say(`    lnmsg ${level}: ${m}`),
      () => this.time.now,
      this.book,
    );
    this.receiver = receiver;
    await receiver.open(GRACE_MS);
    return {
      htlcAccepted: (req) => receiver.onHtlcAccepted(req),
      invoicePayment: (params) => receiver.onInvoicePayment(params.payment),
      invoicePaid: (params) => receiver.onInvoicePaid(params),
    };
  }

  /** lightningd's invoices, as lnmsg asks for them (listinvoices, decode, invoice, listpeerchannels). */
  readonly book: InvoiceBook = {
    create: async (p) => {
      const inv = this.ln.createInvoice({ ...p, preimage: Uint8Array.from(Buffer.from(p.preimage, 'hex')) });
      if (!inv) throw new Error('Duplicate label or payment hash');
      return {
        bolt11: `lnbcrt1${inv.hash.slice(0, 20)}`,
        payment_hash: inv.hash,
        payment_secret: toHex(inv.secret),
        expires_at: inv.expiresAt,
      };
    },
    find: async (hash) => {
      const inv = this.ln.invoices.get(hash);
      if (!inv) return undefined;
      const status = inv.status === 'paid' ? 'paid' : this.ln.expired(inv) ? 'expired' : 'unpaid';
      const found: NodeInvoice = {
        label: inv.label,
        paymentSecret: inv.secret,
        status,
        expiresAt: inv.expiresAt,
        amountMsat: inv.amountMsat,
      };
      return found;
    },
    settlement: async (hash) => this.ln.settlement(hash),
  };

  private decide(epoch: number, hash: string): Promise<Decision> {
    return new Promise((answer) => {
      // A decider run of a plugin that died is never answered: it died with it.
      if (epoch !== this.epoch) return;
      if (this.autoAccept) {
        this.accepted.add(hash);
        return answer({ accept: true });
      }
      this.deciderCalls.push({
        hash,
        answer: (d) => {
          if (d.accept) this.accepted.add(hash);
          answer(d);
        },
      });
    });
  }

  /** The plugin dies (lightningd continues its pending calls) and is started again. */
  async restartPlugin(): Promise<void> {
    this.receiver.close();
    this.process.alive = false;
    this.deciderCalls = [];
    this.ln.pluginDied();
    await settle();
    this.ln.attach(await this.startPlugin());
  }

  /** The node restarts: lnmsg starts again, then lightningd replays every unresolved HTLC. */
  async restartNode(order: number[]): Promise<void> {
    this.receiver.close();
    this.process.alive = false;
    this.deciderCalls = [];
    const port = await this.startPlugin();
    this.ln.nodeRestarted(port, (htlcs) => shuffle(htlcs, order));
  }

  /** A hash for payers: lnmsg's seed flow or BOLT 11 invoice, or the operator's own invoice. */
  async makeHash(
    kind: 'seed' | 'bolt11' | 'node',
    o: { hold: boolean; amountMsat: number; expirySeconds: number },
  ) {
    const name = `H${this.hashes.length + 1}`;
    const opts = { hold: o.hold, amountMsat: o.amountMsat, expirySeconds: o.expirySeconds };
    const expiresAt = Math.floor(this.time.now / 1000) + o.expirySeconds;
    let h: PayeeHash;
    if (kind === 'seed') {
      const inv = await this.receiver.newInvoice(opts);
      h = {
        name,
        kind,
        hash: inv.paymentHash,
        preimage: Buffer.from(inv.preimage, 'hex'),
        ...opts,
        expiresAt,
      };
    } else if (kind === 'bolt11') {
      const inv = await this.receiver.newBolt11(opts);
      const made = this.ln.invoices.get(inv.payment_hash);
      if (!made) throw new Error('newBolt11 made no invoice');
      h = { name, kind, hash: made.hash, preimage: made.preimage, secret: made.secret, ...opts, expiresAt };
    } else {
      const preimage = this.bytes(32);
      const made = this.ln.createInvoice({
        label: `shop-${name}`,
        preimage,
        amountMsat: o.amountMsat || undefined,
        expirySeconds: o.expirySeconds,
      });
      if (!made) throw new Error('the operator could not make an invoice');
      h = { name, kind, hash: made.hash, preimage, secret: made.secret, ...opts, hold: false, expiresAt };
    }
    this.hashes.push(h);
    this.say(
      `  ${name} = ${kind}${h.hold ? ' hold' : ''} ${o.amountMsat || 'any'} msat, ${o.expirySeconds} s: ${short(h.hash)}`,
    );
    return h;
  }

  /** Whether anyone on a route could know the hash's preimage: lightningd settled an HTLC of it. */
  known(target: PayeeHash): { paid: boolean; preimage?: Uint8Array } {
    const paid = this.ln.htlcs.some((h) => h.hash === target.hash && h.state === 'settled');
    return paid ? { paid, preimage: target.preimage } : { paid };
  }

  /** A payer's payment for the `target`th hash, or a keysend to a new hash of its own. */
  pay(p: PaymentPlan, target: PayeeHash | undefined): ModelPayment {
    const name = `P${this.payments.length + 1}`;
    const t = target ?? keysendHash(`K${this.payments.length + 1}`, this.bytes(32));
    if (!target) this.hashes.push(t);
    const payment = plan(name, p, t, this.known(t), (n) => this.bytes(n));
    this.payments.push(payment);
    const what = payment.forgery ? ` (${payment.forgery})` : '';
    this.say(`  ${name} = ${payment.role}${what} ${payment.shape} in ${payment.parts.length} to ${t.name}`);
    return payment;
  }

  /** One part of a payment leaves as a new HTLC (again, if it was sent before). */
  send(payment: ModelPayment, part: number): void {
    const p = payment.parts[part];
    if (!p) return;
    const channel = CHANNEL[payment.role] as string;
    const id = this.htlcIds.get(channel) ?? 0;
    this.htlcIds.set(channel, id + 1);
    const req = htlcRequest(
      {
        paymentHash: payment.target.hash,
        payload: toHex(withLengthPrefix(p.tlv)),
        amountMsat: p.amountMsat,
        id,
        channel,
      },
      this.base,
    );
    const n = this.ln.htlcs.length + 1;
    const what = `(${payment.name} part ${part + 1}/${payment.parts.length})`;
    this.say(`  #${n} ${what} arrives on ${channel}/${id}`);
    const htlc = this.ln.receive({
      n,
      key: `${channel}/${id}`,
      hash: payment.target.hash,
      amountMsat: p.amountMsat,
      tlv: p.tlv,
      req,
      what,
    });
    payment.htlcs.push(htlc);
    payment.partOf.set(htlc.key, part);
  }

  /** The payment an HTLC belongs to. */
  paymentOf(key: string): ModelPayment | undefined {
    return this.payments.find((p) => p.htlcs.some((h) => h.key === key));
  }

  hashName(hash: string): string {
    return this.hashes.find((h) => h.hash === hash)?.name ?? short(hash);
  }
}

/** `items` in an order drawn from `seeds`. */
function shuffle<T>(items: T[], seeds: number[]): T[] {
  const rest = [...items];
  const out: T[] = [];
  for (let i = 0; rest.length > 0; i++) out.push(...rest.splice((seeds[i] ?? 0) % rest.length, 1));
  return out;
}
