import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { JsonStream } from './json-stream.js';

/** An error lightningd answered with: its code, message and data, and the method that failed. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(`${method}: ${message} (code ${code})`);
  }
}

/** lightningd could not be reached at all. */
export class RpcConnectionError extends Error {
  override readonly name = 'RpcConnectionError';
}

interface Pending {
  method: string;
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

  constructor(
    readonly socketPath: string,
    private readonly idPrefix = 'lnmsg',
  ) {}

  call<T = unknown>(method: string, params: Record<string, unknown> | unknown[] = {}): Promise<T> {
    const id = `${this.idPrefix}:${method}#${++this.nextId}`;
    return this.open().then(
      (socket) =>
        new Promise<T>((resolve, reject) => {
          this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
          socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n\n`);
        }),
    );
  }

  close(): void {
    this.socket?.end();
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
      const stream = new JsonStream();
      const socket = connect(this.socketPath);
      socket.once('connect', () => {
        this.socket = socket;
        resolve(socket);
      });
      socket.on('data', (chunk) => {
        for (const msg of stream.push(chunk)) this.onMessage(msg.ok ? msg.value : undefined);
      });
      socket.on('error', (e) =>
        reject(new RpcConnectionError(`cannot talk to lightningd at ${this.socketPath}: ${e.message}`)),
      );
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.failAll(new RpcConnectionError(`lightningd closed the RPC connection at ${this.socketPath}`));
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
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

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
