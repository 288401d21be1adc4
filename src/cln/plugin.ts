import { join } from 'node:path';
import { format } from 'node:util';
import { JsonStream, type Parsed } from './json-stream.js';
import { LightningRpc, type Rpc } from './rpc.js';

/** An error a method returns to the caller as a JSON-RPC error. */
export class MethodError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** JSON-RPC "invalid params". */
export const INVALID_PARAMS = -32602;

/** JSON-RPC "invalid request": what a request over MAX_REQUEST_BYTES is answered with. */
const INVALID_REQUEST = -32600;

/**
 * The largest message read from lightningd. Hooks and notifications are a few KB; what can be
 * large is params passed through from lightning-cli, such as sendmessage's message_hex: twice the
 * message, which the HTLCs of one payment (hundreds at most, ~1.3 KB each) keep to about a MB.
 * 16 MiB leaves room for any real use; a larger message is refused instead of kept in memory.
 */
const MAX_REQUEST_BYTES = 16 * 2 ** 20;

export type OptionType = 'string' | 'int' | 'bool' | 'flag';
export type OptionValue = string | number | boolean | undefined;

export interface OptionSpec {
  type: OptionType;
  default?: string | number | boolean;
  description: string;
  dynamic?: boolean;
}

export interface MethodSpec {
  /** Parameter names in order; `[name]` marks an optional one (shown by `lightning-cli help`). */
  usage: string;
  description: string;
  /** Another order for positional params, taken when their first one passes `when`. */
  alternative?: { usage: string; when: (first: unknown) => boolean };
}

export type LogLevel = 'debug' | 'info' | 'unusual' | 'broken';

export interface PluginContext {
  rpc: Rpc;
  options: Record<string, OptionValue>;
  lightningDir: string;
  network: string;
  /** Started with the node (true), or later by `plugin start`. */
  startup: boolean;
  log(level: LogLevel, message: string): void;
  notify(topic: string, payload: Record<string, unknown>): void;
}

type Params = Record<string, unknown>;
type MethodHandler = (params: Params, ctx: PluginContext) => unknown;
type HookHandler = (payload: Params, ctx: PluginContext) => unknown;
type Subscriber = (payload: unknown, ctx: PluginContext) => unknown;
type InitHandler = (ctx: PluginContext) => string | undefined | Promise<string | undefined>;

interface HookSpec {
  before?: string[];
  after?: string[];
  /** What to answer if the handler throws: a hook must always get an answer. */
  fallback: unknown;
}

interface Request {
  id?: string | number;
  method?: string;
  params?: unknown;
}

/** Where the plugin's protocol messages go: lightningd reads stdout, and nothing else may reach it. */
export interface Output {
  write(text: string): unknown;
}

/**
 * A Core Lightning plugin in the style of `cln-plugin`: declare options, methods, hooks and
 * subscriptions, then `run`. Requests are handled concurrently, so a held hook blocks nothing.
 */
export class Plugin {
  private readonly options = new Map<string, OptionSpec>();
  private readonly methods = new Map<string, MethodSpec & { handler: MethodHandler }>();
  private readonly hooks = new Map<string, HookSpec & { handler: HookHandler }>();
  private readonly subscriptions = new Map<string, Subscriber>();
  private readonly notificationTopics: string[] = [];
  private initHandler?: InitHandler;
  private ctx?: PluginContext;
  private out: Output = process.stdout;

  constructor(
    private readonly manifestExtras: { dynamic?: boolean } = { dynamic: true },
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {}

  option(name: string, spec: OptionSpec): this {
    this.options.set(name, spec);
    return this;
  }

  method(name: string, spec: MethodSpec, handler: MethodHandler): this {
    this.methods.set(name, { ...spec, handler });
    return this;
  }

  hook(name: string, spec: HookSpec, handler: HookHandler): this {
    this.hooks.set(name, { ...spec, handler });
    return this;
  }

  subscribe(topic: string, handler: Subscriber): this {
    this.subscriptions.set(topic, handler);
    return this;
  }

  /** Declares a custom notification topic this plugin may send. */
  notification(topic: string): this {
    this.notificationTopics.push(topic);
    return this;
  }

  onInit(handler: InitHandler): this {
    this.initHandler = handler;
    return this;
  }

  /** Reads lightningd's messages from `input` until it closes or sends `shutdown`. */
  run(input: NodeJS.ReadableStream = process.stdin, output: Output = process.stdout): Promise<void> {
    this.out = output;
    const stream = new JsonStream({ maxBytes: MAX_REQUEST_BYTES });
    return new Promise((resolve) => {
      input.on('data', (chunk: Buffer) => {
        for (const msg of stream.push(chunk)) {
          if (msg.ok) void this.dispatch(msg.value as Request);
          else this.unusable(msg);
        }
      });
      input.on('end', () => {
        resolve();
        this.exit(0);
      });
    });
  }

  /** Logs a message that cannot be handled; a request too large is answered, so its caller does not wait. */
  private unusable(msg: Extract<Parsed, { ok: false }>): void {
    if (!msg.oversized) return this.log('broken', `unparseable message from lightningd: ${msg.error}`);
    this.log('broken', `request ${msg.idHint ?? '(id unreadable)'} from lightningd refused: ${msg.error}`);
    if (msg.idHint !== undefined)
      this.reply(msg.idHint, { error: { code: INVALID_REQUEST, message: 'request too large' } });
  }

  log(level: LogLevel, message: string): void {
    for (const line of message.split('\n')) {
      this.send({ jsonrpc: '2.0', method: 'log', params: { level, message: line } });
    }
  }

  private send(msg: unknown): void {
    this.out.write(`${JSON.stringify(msg)}\n\n`);
  }

  private reply(id: Request['id'], body: { result: unknown } | { error: unknown }): void {
    this.send({ jsonrpc: '2.0', id, ...body });
  }

  private async dispatch(req: Request): Promise<void> {
    const { id, method } = req;
    const params = req.params;
    try {
      if (method === 'getmanifest') return this.reply(id, { result: this.manifest() });
      if (method === 'init') return this.reply(id, { result: await this.init(params as Params) });
      const ctx = this.context();
      // A notification has no id: `invoice_payment` is both a hook and a notification topic.
      if (method && id === undefined) return await this.runSubscriber(method, params as Params, ctx);
      if (method && this.hooks.has(method)) return await this.runHook(id, method, params as Params, ctx);
      if (method && this.methods.has(method)) return await this.runMethod(id, method, params, ctx);
      if (id !== undefined) this.reply(id, { error: { code: -32601, message: `unknown method ${method}` } });
    } catch (e) {
      this.log('broken', `handling ${method}: ${(e as Error).stack ?? e}`);
      if (id !== undefined)
        this.reply(id, { error: { code: -32603, message: String((e as Error).message ?? e) } });
    }
  }

  private manifest() {
    return {
      options: [...this.options].map(([name, o]) => ({ name, ...o })),
      rpcmethods: [...this.methods].map(([name, m]) => ({
        name,
        usage: m.usage,
        description: m.description,
      })),
      hooks: [...this.hooks].map(([name, h]) => ({
        name,
        ...(h.before ? { before: h.before } : {}),
        ...(h.after ? { after: h.after } : {}),
      })),
      subscriptions: [...new Set(['shutdown', ...this.subscriptions.keys()])],
      notifications: this.notificationTopics.map((method) => ({ method })),
      nonnumericids: true,
      dynamic: this.manifestExtras.dynamic ?? true,
    };
  }

  private async init(params: Params) {
    const config = (params.configuration ?? {}) as Record<string, unknown>;
    const lightningDir = String(config['lightning-dir'] ?? '.');
    const options: Record<string, OptionValue> = {};
    const given = (params.options ?? {}) as Record<string, OptionValue>;
    for (const [name, spec] of this.options) {
      // An unset flag is absent from init (OBSERVED.md), not false.
      options[name] = given[name] ?? (spec.type === 'flag' ? false : spec.default);
    }
    this.ctx = {
      rpc: new LightningRpc(join(lightningDir, String(config['rpc-file'] ?? 'lightning-rpc')), 'lnmsg', {
        batching: true,
      }),
      options,
      lightningDir,
      network: String(config.network ?? 'bitcoin'),
      startup: config.startup !== false,
      log: (level, message) => this.log(level, message),
      // lightningd wraps a custom notification's params for subscribers itself.
      notify: (topic, payload) => this.send({ jsonrpc: '2.0', method: topic, params: payload }),
    };
    try {
      const disable = await this.initHandler?.(this.ctx);
      return disable ? { disable } : {};
    } catch (e) {
      // lightningd unloads a plugin that asks to be disabled; a thrown init would leave it half-alive.
      return { disable: `start-up failed: ${(e as Error).message}` };
    }
  }

  private context(): PluginContext {
    if (!this.ctx) throw new Error('request before init');
    return this.ctx;
  }

  private async runHook(id: Request['id'], name: string, params: Params, ctx: PluginContext) {
    const hook = this.hooks.get(name) as HookSpec & { handler: HookHandler };
    let result: unknown;
    try {
      result = await hook.handler(params, ctx);
    } catch (e) {
      this.log(
        'broken',
        `${name} hook failed, answering ${JSON.stringify(hook.fallback)}: ${(e as Error).stack ?? e}`,
      );
      result = hook.fallback;
    }
    this.reply(id, { result });
  }

  private async runMethod(id: Request['id'], name: string, raw: unknown, ctx: PluginContext) {
    const method = this.methods.get(name) as MethodSpec & { handler: MethodHandler };
    try {
      const alt = method.alternative;
      const usage = alt && Array.isArray(raw) && alt.when(raw[0]) ? alt.usage : method.usage;
      const params = namedParams(usage, raw);
      this.reply(id, { result: await method.handler(params, ctx) });
    } catch (e) {
      if (e instanceof MethodError) {
        this.reply(id, {
          error: { code: e.code, message: e.message, ...(e.data === undefined ? {} : { data: e.data }) },
        });
      } else throw e;
    }
  }

  private async runSubscriber(topic: string, params: Params, ctx: PluginContext) {
    // Notifications wrap their payload under the topic name (OBSERVED.md).
    const payload = params && topic in params ? params[topic] : params;
    await this.subscriptions.get(topic)?.(payload, ctx);
    if (topic === 'shutdown') this.exit(0);
  }
}

/** Positional params (lightning-cli's default) mapped to the names in `usage`. */
export function namedParams(usage: string, raw: unknown): Params {
  if (raw === undefined || raw === null) return {};
  if (!Array.isArray(raw)) {
    if (typeof raw !== 'object')
      throw new MethodError(INVALID_PARAMS, 'params must be an array or an object');
    return raw as Params;
  }
  const names = usage
    .split(/\s+/)
    .filter(Boolean)
    .map((n) => n.replace(/[[\]]/g, ''));
  if (raw.length > names.length) {
    throw new MethodError(
      INVALID_PARAMS,
      `too many parameters: got ${raw.length}, expected at most ${names.length}`,
    );
  }
  return Object.fromEntries(raw.map((v, i) => [names[i], v]));
}

/** Routes console output to lightningd's log: stdout belongs to the protocol. */
export function captureConsole(plugin: Plugin): void {
  const toLog =
    (level: LogLevel) =>
    (...args: unknown[]) =>
      plugin.log(level, format(...args));
  console.log = toLog('info');
  console.info = toLog('info');
  console.debug = toLog('debug');
  console.warn = toLog('unusual');
}
