import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { JsonStream, type Parsed } from './json-stream.js';

/** An error lightningd answered with: its code, message and data, and the method that failed. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly method: string,
    readonly code: number,
    /** lightningd's (or the plugin's) own words, without the method and code. */
    readonly reason: string,
    readonly data?: unknown,
  ) {
    super(`${method}: ${reason} (code ${code})`);
  }
}

/** JSON-RPC "method not found": how lightningd answers a command it (or its plugins) lacks. */
export const UNKNOWN_COMMAND = -32601;

/** lightningd could not be reached at all. */
export class RpcConnectionError extends Error {
  override readonly name = 'RpcConnectionError';
}

/** lightningd's reply to a call could not be used: larger than `maxReplyBytes`, or not JSON. */
export class RpcReplyError extends Error {
  override readonly name = 'RpcReplyError';
  constructor(
    readonly method: string,
    problem: string,
  ) {
    super(`${method}: unusable reply from lightningd: ${problem}`);
  }
}

/**
 * The largest replies lnmsg asks for are listdatastore of its whole store and, from the CLI,
 * receivemessage_list: a few hundred KB per full-size message, so 64 MiB holds hundreds of them.
 * Past it a reply fails its call instead of being buffered without end.
 */
export const DEFAULT_MAX_REPLY_BYTES = 64 * 2 ** 20;

export interface LightningRpcOptions {
  /** A reply larger than this rejects its call with RpcReplyError (default 64 MiB). */
  maxReplyBytes?: number;
  /**
   * Ask lightningd, first on every connection, to commit the commands that reach it together in
   * one database transaction (its `batching` command): concurrent datastore writes then cost one
   * commit, not one each. lightningd answers a command only after that commit, so an answer
   * still means the write is on disk.
   */
  batching?: boolean;
}

interface Pending {
  method: string;
  /** The connection the request went out on: only its replies, or its closing, settle the call. */
  socket: Socket;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface Rpc {
  call<T = unknown>(method: string, params?: Record<string, unknown> | unknown[]): Promise<T>;
}

/** JSON-RPC 2.0 over lightningd's unix socket: one connection, many concurrent calls. */
export class LightningRpc implements Rpc {
  private socket?: Socket;
  private connecting?: Promise<Socket>;
  private readonly pending = new Map<string, Pending>();
  private nextId = 0;
  private readonly maxReplyBytes: number;
  private readonly batching: boolean;

  constructor(
    readonly socketPath: string,
    private readonly idPrefix = 'lnmsg',
    options: LightningRpcOptions = {},
  ) {
    this.maxReplyBytes = options.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
    this.batching = options.batching ?? false;
  }

  call<T = unknown>(method: string, params: Record<string, unknown> | unknown[] = {}): Promise<T> {
    return this.open().then(
      (socket) =>
        new Promise<T>((resolve, reject) => {
          this.request(socket, method, params, { resolve: resolve as (v: unknown) => void, reject });
        }),
    );
  }

  private request(
    socket: Socket,
    method: string,
    params: Record<string, unknown> | unknown[],
    settle: Pick<Pending, 'resolve' | 'reject'>,
  ): void {
    const id = `${this.idPrefix}:${method}#${++this.nextId}`;
    this.pending.set(id, { method, socket, ...settle });
    // Commands asked for in the same tick leave in one write: lightningd reads them together, and
    // with batching commits their changes once.
    if (!socket.writableCorked) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n\n`);
  }

  close(): void {
    // Not end(): a long poll still pending (receivemessage_wait) would keep the process alive.
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    if (this.connecting) return this.connecting;
    this.connecting = new Promise<Socket>((resolve, reject) => {
      if (!existsSync(this.socketPath)) {
        reject(new RpcConnectionError(`lightningd RPC socket not found at ${this.socketPath}`));
        return;
      }
      const stream = new JsonStream({ maxBytes: this.maxReplyBytes });
      const socket = connect(this.socketPath);
      socket.once('connect', () => {
        this.socket = socket;
        // Written before any call, and lightningd reads a connection in order. Without it (a
        // refusal) every command is committed on its own, as before: nothing to do.
        if (this.batching) this.request(socket, 'batching', { enable: true }, { resolve() {}, reject() {} });
        resolve(socket);
      });
      socket.on('data', (chunk) => {
        for (const msg of stream.push(chunk)) this.onReply(socket, msg);
      });
      socket.on('error', (e) =>
        reject(new RpcConnectionError(`cannot talk to lightningd at ${this.socketPath}: ${e.message}`)),
      );
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.failAll(
          socket,
          () => new RpcConnectionError(`lightningd closed the RPC connection at ${this.socketPath}`),
        );
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /**
   * A reply too large or not JSON rejects the call its id names. Without a readable id, no call
   * can be told its reply will not come: every call on this connection fails and the connection
   * is dropped, so the next call starts clean on a new one.
   */
  private onReply(socket: Socket, msg: Parsed): void {
    if (msg.ok) return this.onMessage(msg.value);
    if (msg.idHint === undefined) {
      this.failAll(socket, (p) => new RpcReplyError(p.method, msg.error));
      if (this.socket === socket) this.socket = undefined;
      socket.destroy();
      return;
    }
    const p = this.pending.get(msg.idHint);
    if (!p) return; // not an answer to one of our calls
    this.pending.delete(msg.idHint);
    p.reject(new RpcReplyError(p.method, msg.error));
  }

  private onMessage(msg: unknown): void {
    if (typeof msg !== 'object' || msg === null) return;
    const { id, result, error } = msg as { id?: unknown; result?: unknown; error?: Record<string, unknown> };
    const p = typeof id === 'string' ? this.pending.get(id) : undefined;
    if (!p) return; // notifications and stray replies are not ours
    this.pending.delete(id as string);
    if (error) {
      p.reject(
        new RpcError(
          p.method,
          typeof error.code === 'number' ? error.code : -1,
          String(error.message ?? 'error'),
          error.data,
        ),
      );
    } else p.resolve(result);
  }

  private failAll(socket: Socket, error: (p: Pending) => Error): void {
    for (const [id, p] of this.pending) {
      if (p.socket !== socket) continue;
      this.pending.delete(id);
      p.reject(error(p));
    }
  }
}
