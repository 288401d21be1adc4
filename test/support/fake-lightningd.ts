import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJsonl } from './shared.js';

/** Where the recordings of real Core Lightning v26.06 live, under the shared folder. */
export const FIXTURES = ['fixtures', 'cln-v26.06'] as const;

export interface RecordedError {
  code: number;
  message: string;
  data?: unknown;
}

export interface RecordedReply {
  jsonrpc: string;
  id: string;
  result?: unknown;
  error?: RecordedError;
}

/** One JSON-RPC call recorded on a real node's `lightning-rpc` socket (README: kind `rpc`). */
export interface RpcRecord {
  kind: 'rpc';
  step: string;
  node: number;
  name: string;
  request: { jsonrpc: string; id: string; method: string; params: unknown };
  /** Each `recv(65536)` of the reply, as text, exactly as lightningd sent it (with its "\n\n"). */
  chunks: string[];
  reply: RecordedReply;
}

let records: RpcRecord[] | undefined;

/** Every recorded RPC call: rpc-replies.jsonl, then the large chunked listdatastore. */
export function rpcRecords(): RpcRecord[] {
  records ??= [
    ...readJsonl<RpcRecord>(...FIXTURES, 'rpc-replies.jsonl'),
    ...readJsonl<RpcRecord>(...FIXTURES, 'rpc-reply-large-chunked.jsonl'),
  ].filter((r) => r.kind === 'rpc');
  return records;
}

export function rpcRecord(name: string): RpcRecord {
  const rec = rpcRecords().find((r) => r.name === name);
  if (!rec) throw new Error(`no recorded rpc call named ${name} in ${FIXTURES.join('/')}`);
  return rec;
}

/**
 * The recorded reply text with only its `id` changed to `id`. The text is cut at the recorded
 * read boundaries; a boundary after the id moves by the id's change in length, so every chunk
 * still ends where lightningd's did relative to the rest of the reply.
 */
export function replyChunksWithId(rec: RpcRecord, id: string | number): string[] {
  const text = rec.chunks.join('');
  const oldId = JSON.stringify(rec.reply.id);
  const m = /"id"\s*:\s*/.exec(text);
  if (!m || text.slice(m.index + m[0].length, m.index + m[0].length + oldId.length) !== oldId) {
    throw new Error(`recorded reply ${rec.name}: its first "id" member is not ${oldId}`);
  }
  const at = m.index + m[0].length;
  const newId = JSON.stringify(id);
  const rewritten = text.slice(0, at) + newId + text.slice(at + oldId.length);
  const delta = newId.length - oldId.length;
  const out: string[] = [];
  let start = 0;
  let recordedEnd = 0;
  for (const chunk of rec.chunks) {
    recordedEnd += chunk.length;
    const end = recordedEnd > at ? recordedEnd + delta : recordedEnd;
    out.push(rewritten.slice(start, end));
    start = end;
  }
  return out;
}

/** A request as the fake received it. */
export interface IncomingRequest {
  id: string | number;
  method: string;
  params: unknown;
  /** The request's text as the client wrote it (without the "\n\n"). */
  raw: string;
  /** Which read of the socket (counted over all connections) completed it: requests written together share one. */
  read: number;
}

/** What to write back: text pieces, each its own write (so each is likely its own read). */
export interface Answer {
  chunks: string[];
}

/** Answers a request; `undefined` means never answer (the call stays pending). */
export type Handler = (req: IncomingRequest) => Answer | undefined | Promise<Answer | undefined>;

/** The recorded reply `name`, answering request `id`: only the id is rewritten. */
export function recordedAnswer(name: string, id: string | number): Answer {
  return { chunks: replyChunksWithId(rpcRecord(name), id) };
}

/**
 * A reply shaped like the recorded reply `template` (lightningd's compact JSON and "\n\n"),
 * with our own `id` and `result`. For stateful fakes (the datastore) whose values differ from
 * the recording.
 */
export function resultLike(template: string, id: string | number, result: unknown): Answer {
  const reply = rpcRecord(template).reply;
  if (!('result' in reply)) throw new Error(`${template} is not a recorded success`);
  return { chunks: [`${JSON.stringify({ ...reply, id, result })}\n\n`] };
}

/**
 * The recorded error reply `template` answering `id`. `change` replaces members of its `error`
 * object (code/message) for errors lightningd documents but the recording does not hold.
 */
export function errorLike(
  template: string,
  id: string | number,
  change: Partial<RecordedError> = {},
): Answer {
  const reply = rpcRecord(template).reply;
  if (!reply.error) throw new Error(`${template} is not a recorded error`);
  if (Object.keys(change).length === 0) return recordedAnswer(template, id);
  return { chunks: [`${JSON.stringify({ ...reply, id, error: { ...reply.error, ...change } })}\n\n`] };
}

interface Queued {
  socket: Socket;
  answer: Answer;
}

/**
 * A stand-in for lightningd's JSON-RPC socket: a unix socket in a fresh temp dir (`dir`, usable as
 * `configuration.lightning-dir`) that answers each request by method with recorded replies.
 */
export class FakeLightningd {
  readonly requests: IncomingRequest[] = [];
  /** Anything a client wrote that was not a JSON object followed by "\n\n". */
  readonly protocolErrors: string[] = [];
  private readonly handlers = new Map<string, Handler>();
  private readonly sockets = new Set<Socket>();
  private readonly requestListeners = new Set<() => void>();
  private held: Queued[] | undefined;
  private accepted = 0;
  private reads = 0;

  private constructor(
    readonly dir: string,
    readonly socketPath: string,
    private readonly server: Server,
    /** Whether `close` removes `dir`: not when it was given, as for a restart in the same place. */
    private readonly ownsDir: boolean,
  ) {}

  /** Listens on `<dir>/<rpcFile>`; without `dir`, in a fresh temp dir that `close` removes. */
  static async start(rpcFile = 'lightning-rpc', dir?: string): Promise<FakeLightningd> {
    const where = dir ?? mkdtempSync(join(tmpdir(), 'lnmsg-fake-ln-'));
    const socketPath = join(where, rpcFile);
    const server = createServer();
    const fake = new FakeLightningd(where, socketPath, server, dir === undefined);
    server.on('connection', (socket) => fake.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return fake;
  }

  /** Answers every call of `method` with the recorded reply `recordName` (its id rewritten). */
  replyWith(method: string, recordName: string): this {
    rpcRecord(recordName); // fail early on a wrong name
    return this.handle(method, (req) => recordedAnswer(recordName, req.id));
  }

  handle(method: string, handler: Handler): this {
    this.handlers.set(method, handler);
    return this;
  }

  /** From now on, keep answers back until `release`. */
  hold(): void {
    this.held ??= [];
  }

  /**
   * Sends the answers kept back since `hold`, in `order` (indexes into the held answers, default
   * as they came), and with `coalesce` all of them in a single write.
   */
  async release(opts: { order?: number[]; coalesce?: boolean } = {}): Promise<void> {
    const held = this.held ?? [];
    this.held = undefined;
    const order = opts.order ?? held.map((_, i) => i);
    const queued = order.map((i) => {
      const q = held[i];
      if (!q) throw new Error(`no held answer ${i} (${held.length} held)`);
      return q;
    });
    if (opts.coalesce) {
      const bySocket = new Map<Socket, string>();
      for (const q of queued)
        bySocket.set(q.socket, (bySocket.get(q.socket) ?? '') + q.answer.chunks.join(''));
      for (const [socket, text] of bySocket) await this.write(socket, { chunks: [text] });
    } else {
      for (const q of queued) await this.write(q.socket, q.answer);
    }
  }

  get heldCount(): number {
    return this.held?.length ?? 0;
  }

  /** Resolves once `count` requests in all have arrived (now or later). */
  waitForRequests(count: number, timeoutMs = 20_000): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requestListeners.delete(check);
        reject(
          new Error(`fake lightningd: ${this.requests.length} of ${count} requests within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const check = () => {
        if (this.requests.length < count) return;
        clearTimeout(timer);
        this.requestListeners.delete(check);
        resolve();
      };
      this.requestListeners.add(check);
    });
  }

  /** Closes every client connection from the server's side, as a stopping lightningd does. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Connections accepted since start (open or closed). */
  get connectionsAccepted(): number {
    return this.accepted;
  }

  /** Stops listening (the socket file goes with it), drops every connection and removes its own temp dir. */
  async close(): Promise<void> {
    this.held = undefined;
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    this.accepted++;
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (text: string) => {
      const read = ++this.reads;
      buffer += text;
      // Our clients write compact JSON + "\n\n"; compact JSON never holds a raw newline.
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const raw = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        void this.onRequest(socket, raw, read);
      }
    });
    socket.on('error', () => {}); // a client going away mid-write is its business
    socket.on('close', () => this.sockets.delete(socket));
  }

  private async onRequest(socket: Socket, raw: string, read: number): Promise<void> {
    let msg: { id?: string | number; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(raw);
    } catch (e) {
      this.protocolErrors.push(`unparseable request ${JSON.stringify(raw.slice(0, 80))}: ${e}`);
      return;
    }
    if (typeof msg !== 'object' || msg === null || typeof msg.method !== 'string' || msg.id === undefined) {
      this.protocolErrors.push(`not a JSON-RPC request: ${raw.slice(0, 80)}`);
      return;
    }
    const req: IncomingRequest = { id: msg.id, method: msg.method, params: msg.params, raw, read };
    this.requests.push(req);
    const handler = this.handlers.get(req.method);
    let answer: Answer | undefined;
    try {
      // An unknown method gets lightningd's recorded -32601; the method name in its message is ours.
      answer = handler
        ? await handler(req)
        : errorLike('unknown-method', req.id, { message: `Unknown command '${req.method}'` });
    } catch (e) {
      // A request the fake cannot serve: say so in a recorded -32602 shape, and remember it.
      this.protocolErrors.push(`${req.method}: ${(e as Error).message}`);
      answer = errorLike('bad-params-invalid', req.id, { message: (e as Error).message });
    }
    // Listeners hear of a request once its answer is queued, so `heldCount` already counts it.
    if (answer && this.held) this.held.push({ socket, answer });
    for (const l of [...this.requestListeners]) l();
    if (answer && !this.held) await this.write(socket, answer);
  }

  /** Each chunk is its own write, the next one only after the previous has left. */
  private async write(socket: Socket, answer: Answer): Promise<void> {
    for (const chunk of answer.chunks) {
      if (socket.destroyed) return;
      await new Promise<void>((resolve) => socket.write(chunk, () => resolve()));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/** One datastore entry: the key and its bytes; `generation` counts the updates. */
interface StoredEntry {
  key: string[];
  value: Buffer;
  generation: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A tiny lightningd datastore behind `datastore`, `listdatastore` and `deldatastore`: replies are
 * built in the shape of the recorded ones (`datastore-create`, `listdatastore-prefix`,
 * `deldatastore`, errors `datastore-create-again` 1202 and `deldatastore-missing` 1200).
 * State lives in this object, so it outlives the plugin processes that talk to it.
 */
export class FakeDatastore {
  readonly entries = new Map<string, StoredEntry>();
  /** Child names under each key that has entries below it, so a listing reads only its own level. */
  private readonly childNames = new Map<string, Set<string>>();

  install(fake: FakeLightningd): this {
    fake.handle('datastore', (req) => this.datastore(req));
    fake.handle('listdatastore', (req) => this.listdatastore(req));
    fake.handle('deldatastore', (req) => this.deldatastore(req));
    return this;
  }

  get(key: string[]): StoredEntry | undefined {
    return this.entries.get(JSON.stringify(key));
  }

  /** Stores an entry directly (for set-up: a store of any size without RPC round trips). */
  put(key: string[], value: string | Buffer): void {
    const k = JSON.stringify(key);
    const cur = this.entries.get(k);
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.entries.set(k, { key, value: bytes, generation: cur ? cur.generation + 1 : 0 });
    for (let depth = 0; depth < key.length; depth++) {
      const parent = JSON.stringify(key.slice(0, depth));
      let names = this.childNames.get(parent);
      if (!names) this.childNames.set(parent, (names = new Set()));
      names.add(key[depth] as string);
    }
  }

  private remove(key: string[]): void {
    this.entries.delete(JSON.stringify(key));
    for (let depth = key.length; depth > 0; depth--) {
      const child = JSON.stringify(key.slice(0, depth));
      if (this.entries.has(child) || this.childNames.get(child)?.size) return;
      this.childNames.delete(child);
      this.childNames.get(JSON.stringify(key.slice(0, depth - 1)))?.delete(key[depth - 1] as string);
    }
  }

  keys(): string[][] {
    return [...this.entries.values()].map((e) => e.key);
  }

  /** As lightningd shows an entry: `string` only when the bytes are UTF-8 (recorded hex-only entry has none). */
  private view(e: StoredEntry) {
    let text: string | undefined;
    try {
      text = strictUtf8.decode(e.value);
    } catch {
      text = undefined;
    }
    return {
      key: e.key,
      generation: e.generation,
      hex: e.value.toString('hex'),
      ...(text === undefined ? {} : { string: text }),
    };
  }

  private datastore(req: IncomingRequest): Answer {
    const p = (req.params ?? {}) as Record<string, unknown>;
    const key = keyOf(p.key);
    const value =
      typeof p.string === 'string'
        ? Buffer.from(p.string, 'utf8')
        : typeof p.hex === 'string'
          ? Buffer.from(p.hex, 'hex')
          : Buffer.alloc(0);
    const mode = typeof p.mode === 'string' ? p.mode : 'must-create';
    const k = JSON.stringify(key);
    const cur = this.entries.get(k);
    if (cur && mode === 'must-create') return errorLike('datastore-create-again', req.id);
    if (!cur && (mode === 'must-replace' || mode === 'must-append')) {
      // Not recorded: 1203 with the wording of datastore.json's error list.
      return errorLike('datastore-create-again', req.id, {
        code: 1203,
        message: 'The key does not exist (and mode said it must)',
      });
    }
    if (cur && typeof p.generation === 'number' && cur.generation !== p.generation) {
      // Not recorded: 1204 with the wording of datastore.json's error list.
      return errorLike('datastore-create-again', req.id, {
        code: 1204,
        message: 'The generation was wrong (and generation was specified)',
      });
    }
    const appending = mode === 'must-append' || mode === 'create-or-append';
    this.put(key, appending && cur ? Buffer.concat([cur.value, value]) : value);
    return resultLike('datastore-create', req.id, this.view(this.entries.get(k) as StoredEntry));
  }

  /** The entry at `key` itself, and its immediate children (a child with children shows as key only). */
  private listdatastore(req: IncomingRequest): Answer {
    const p = (req.params ?? {}) as Record<string, unknown>;
    const prefix = p.key === undefined ? [] : keyOf(p.key);
    const own = this.entries.get(JSON.stringify(prefix));
    const out: unknown[] = own && prefix.length > 0 ? [this.view(own)] : [];
    const names = [...(this.childNames.get(JSON.stringify(prefix)) ?? [])].sort();
    for (const name of names) {
      const key = [...prefix, name];
      const k = JSON.stringify(key);
      const e = this.entries.get(k);
      out.push(this.childNames.get(k)?.size || !e ? { key } : this.view(e));
    }
    return resultLike('listdatastore-prefix', req.id, { datastore: out });
  }

  private deldatastore(req: IncomingRequest): Answer {
    const p = (req.params ?? {}) as Record<string, unknown>;
    const k = JSON.stringify(keyOf(p.key));
    const cur = this.entries.get(k);
    if (!cur) return errorLike('deldatastore-missing', req.id);
    this.remove(cur.key);
    return resultLike('deldatastore', req.id, this.view(cur));
  }
}

function keyOf(key: unknown): string[] {
  if (typeof key === 'string') return [key];
  if (Array.isArray(key) && key.every((k) => typeof k === 'string')) return key;
  throw new Error(`fake datastore: bad key ${JSON.stringify(key)}`);
}
