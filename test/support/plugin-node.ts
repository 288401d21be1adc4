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
} from './fake-lightningd.js';
import { type PluginMessage, PluginProcess } from './plugin-process.js';
import { answerSendsAsRecorded, recordedPayment } from './send-path.js';
import { passthroughRequest, recordedGetmanifest, recordedInit, renumber } from './recorded.js';

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
  plugin!: PluginProcess;
  manifest!: Manifest;
  private n = 0;
  private options: Record<string, unknown> = {};
  /** What `restart` sets up again on the new lightningd (handlers set on `fake` directly are not). */
  private readonly setups: ((fake: FakeLightningd) => void)[] = [
    (fake) => fake.replyWith('getinfo', 'getinfo-n3'),
    (fake) => this.datastore.install(fake),
    // No invoice of lightningd's is asked for by these tests: its answer for an unknown hash.
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
          // Each send replays the one recorded payment, which lightningd's listsendpays (the fake's)
          // forgets in between: so does the outbox, which would otherwise refuse it as paid.
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
