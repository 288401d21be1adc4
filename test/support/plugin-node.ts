import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Answer,
  errorLike,
  FakeDatastore,
  FakeLightningd,
  type IncomingRequest,
  resultLike,
  rpcRecord,
} from './fake-lightningd.js';
import { type PluginMessage, PluginProcess } from './plugin-process.js';
import { answerSendsAsRecorded, recordedPayment } from './send-path.js';
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex } from '../../src/wire/bytes.js';
import { v26066Reply } from './recorded-v26066.js';
import {
  lightningdMessages,
  passthroughRequest,
  recordedGetmanifest,
  recordedInit,
  renumber,
} from './recorded.js';

/** lightningd's `invoice_payment` hook call or notification, as a production node sent it (v26.06.6). */
function recordedInvoicePayment(which: 'hook' | 'notification') {
  const found = lightningdMessages('plain-node3.jsonl', 'own').find(
    (m) =>
      m.rec.step === 'plain-xpay' &&
      m.msg.method === 'invoice_payment' &&
      (m.msg.id !== undefined) === (which === 'hook'),
  );
  if (!found) throw new Error(`no recorded invoice_payment ${which}`);
  return found;
}

export interface Manifest {
  options: { name: string; type: string; default?: unknown }[];
  rpcmethods: { name: string; usage: string; description: string }[];
  hooks: { name: string; before?: string[] }[];
  notifications: { method: string }[];
  subscriptions: string[];
  dynamic: boolean;
  nonnumericids: boolean;
}

/** The option values lightningd sends in `init`: every declared option, at its default unless set. */
function initOptions(manifest: Manifest, set: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...Object.fromEntries(manifest.options.map((o) => [o.name, o.default])), ...set };
}

export { listsendpaysBefore, PAID, recordedPayment } from './send-path.js';

/** A node: the fake lightningd with its datastore, and lnmsg started as lightningd starts it. */
export class Node {
  readonly datastore = new FakeDatastore();
  /** lightningd's invoices made through the fake (lnmsg's receivemessage_invoice), by hash. */
  readonly invoices = new Map<string, { label: string; preimage: string; secret: Uint8Array }>();
  plugin!: PluginProcess;
  manifest!: Manifest;
  private n = 0;
  private options: Record<string, unknown> = {};
  /** What `restart` sets up again on the new lightningd (handlers set on `fake` directly are not). */
  private readonly setups: ((fake: FakeLightningd) => void)[] = [
    (fake) => fake.replyWith('getinfo', 'getinfo-n3'),
    // The plugin asks for batching first on its RPC connection.
    (fake) => fake.handle('batching', v26066Reply('rpc-batching.jsonl', 'batching/enable')),
    (fake) => this.datastore.install(fake),
    // lightningd's invoices: `invoice` made with lnmsg's preimage, `listinvoices` of one hash.
    (fake) =>
      fake.handle('invoice', (req) => {
        const p = req.params as { preimage: string; label: string; expiry?: number };
        const hash = toHex(sha256(fromHex(p.preimage)));
        const made = {
          ...p,
          hash,
          secret: randomBytes(32),
          expiresAt: Math.floor(Date.now() / 1000) + (p.expiry ?? 604800),
        };
        this.invoices.set(hash, made);
        const recorded = rpcRecord('htlc-xpay-bolt11/invoice').reply.result as { bolt11: string };
        return resultLike('htlc-xpay-bolt11/invoice', req.id, {
          payment_hash: hash,
          expires_at: made.expiresAt,
          bolt11: recorded.bolt11,
          payment_secret: toHex(made.secret),
        });
      }),
    (fake) => fake.handle('listinvoices', (req) => resultLike('listinvoices-n3', req.id, { invoices: [] })),
  ];

  private constructor(
    readonly dir: string,
    public fake: FakeLightningd,
  ) {
    for (const setup of this.setups) setup(fake);
  }

  static async start(): Promise<Node> {
    const dir = mkdtempSync(join(tmpdir(), 'lnmsg-node-'));
    return new Node(dir, await FakeLightningd.start('lightning-rpc', dir));
  }

  /** A request made on lightningd's socket, passed to the plugin as lightningd does, and its answer. */
  async passThrough(req: IncomingRequest): Promise<Answer> {
    const answer = await this.call(req.method, req.params as Record<string, unknown>);
    return answer.error
      ? errorLike('recorder-fail', req.id, answer.error)
      : resultLike('recorder-echo-named', req.id, answer.result);
  }

  /** Sets up the fake lightningd now and again after each `restart`. */
  everyStart(setup: (fake: FakeLightningd) => void): this {
    setup(this.fake);
    this.setups.push(setup);
    return this;
  }

  /** From now on lnmsg's methods called on lightningd's socket go to the plugin (also after `restart`). */
  passLnmsgThrough(): this {
    return this.everyStart((fake) => {
      for (const method of this.manifest.rpcmethods.map((m) => m.name))
        fake.handle(method, (req) => this.passThrough(req));
    });
  }

  /**
   * lightningd stopping and starting again: the plugin dies, the socket goes away, and a new one
   * in the same place serves the same datastore; `whileDown` runs in between.
   */
  async restart(whileDown: () => Promise<void> = async () => {}): Promise<void> {
    await this.plugin.kill();
    await this.fake.close();
    await whileDown();
    this.fake = await FakeLightningd.start('lightning-rpc', this.dir);
    for (const setup of this.setups) setup(this.fake);
    await this.startPlugin(this.options);
  }

  /** getmanifest then init, with the recorded messages; returns init's answer. */
  async startPlugin(options: Record<string, unknown> = {}): Promise<PluginMessage> {
    this.options = options;
    this.plugin = new PluginProcess(this.fake.dir);
    const answer = await this.plugin.request(recordedGetmanifest());
    this.manifest = answer.result as Manifest;
    return this.plugin.request(recordedInit(this.fake.dir, initOptions(this.manifest, options)));
  }

  /**
   * lightningd as an RPC client (the CLI) sees it: lnmsg's methods passed through to the plugin
   * and its answers back, and what paying asks of lightningd answered from the recorded payment.
   */
  serveClients(): void {
    this.passLnmsgThrough()
      .everyStart(answerSendsAsRecorded)
      .everyStart((fake) =>
        fake.handle('sendmessage', async (req) => {
          // Each send replays the one recorded payment, which lightningd (the fake: its sendonion
          // answers pending) forgets in between: so does the outbox, which would otherwise refuse it as paid.
          const { hash } = recordedPayment();
          if ((req.params as { payment_hash?: string } | undefined)?.payment_hash === hash)
            await this.call('sendmessage_delete', { payment_hash: hash });
          return this.passThrough(req);
        }),
      );
  }

  /** A method called through lightningd from lightning-cli (the recorded passthrough, our method). */
  async call(method: string, params: unknown[] | Record<string, unknown>): Promise<PluginMessage> {
    const { raw } = passthroughRequest(method, params, ++this.n);
    return this.plugin.request(raw);
  }

  async result<T>(method: string, params: unknown[] | Record<string, unknown>): Promise<T> {
    const answer = await this.call(method, params);
    assert.equal(answer.error, undefined, `${method}: ${JSON.stringify(answer.error)}`);
    return answer.result as T;
  }

  /**
   * An htlc_accepted hook call, numbered as lightningd numbers them. `onAnswer` runs the moment the
   * answer arrives, before anything else can happen.
   */
  hook(params: unknown, onAnswer: (m: PluginMessage) => void = () => {}): Promise<PluginMessage> {
    const id = renumber('cln:htlc_accepted#125', 1000 + ++this.n);
    const answer = this.plugin.waitFor((m) => {
      const ours = m.id === id && !('method' in m);
      if (ours) onAnswer(m);
      return ours;
    }, `an answer to ${id}`);
    this.plugin.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'htlc_accepted', params }));
    return answer;
  }

  /** The recorded `invoice_payment` hook call (a production node's), for an invoice of ours. */
  invoicePayment(label: string, preimage: string, msat: number): Promise<PluginMessage> {
    const { msg } = recordedInvoicePayment('hook');
    const id = renumber(msg.id as string, 1000 + ++this.n);
    const answer = this.plugin.waitFor((m) => m.id === id && !('method' in m), `an answer to ${id}`);
    this.plugin.send(JSON.stringify({ ...msg, id, params: { payment: { label, preimage, msat } } }));
    return answer;
  }

  /** The recorded `invoice_payment` notification lightningd sends once it settled the invoice. */
  invoicePaid(label: string, preimage: string, msat: number): void {
    const { msg } = recordedInvoicePayment('notification');
    this.plugin.send(JSON.stringify({ ...msg, params: { invoice_payment: { msat, preimage, label } } }));
  }

  messagesStored(hash: string): number {
    return this.datastore.keys().filter((k) => k[0] === 'lnmsg' && k[1] === 'message' && k[2] === hash)
      .length;
  }

  async stop(): Promise<void> {
    await this.plugin?.kill();
    await this.fake.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
