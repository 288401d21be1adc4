import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './shared.js';

export const PLUGIN_BIN = join(projectRoot, 'bin', 'lnmsg-plugin');

/** A JSON-RPC message the plugin wrote on stdout. */
export interface PluginMessage {
  jsonrpc?: unknown;
  id?: string | number;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

interface Waiter {
  match: (m: PluginMessage) => boolean;
  resolve: (m: PluginMessage) => void;
}

/** A safety net only: every wait ends on an event long before this. */
export const SAFETY_MS = 30_000;

/**
 * `bin/lnmsg-plugin` as lightningd runs it: a child process spoken to over stdin/stdout.
 * Stdout is checked as it arrives: it must be nothing but JSON-RPC 2.0 messages each followed
 * by "\n\n"; anything else lands in `framingErrors`.
 */
export class PluginProcess {
  readonly messages: PluginMessage[] = [];
  readonly framingErrors: string[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private pending = '';
  private readonly waiters = new Set<Waiter>();
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(cwd: string) {
    // lightningd starts a plugin in its lightning-dir.
    this.child = spawn(process.execPath, [PLUGIN_BIN], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (text: string) => this.onStdout(text));
    this.child.stderr.on('data', (text: string) => {
      this.stderr += text;
    });
    this.child.stdin.on('error', () => {}); // writing to a plugin that exited is checked by the tests
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        if (this.pending !== '') this.framingErrors.push(`unterminated output at exit: ${this.pending}`);
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Writes `raw` as lightningd does: the message text, then "\n\n" unless `raw` already ends so. */
  send(raw: string): void {
    this.child.stdin.write(raw.endsWith('\n\n') ? raw : `${raw}\n\n`);
  }

  /** Writes raw text as it is (several messages in one write, or a part of one). */
  write(text: string): void {
    this.child.stdin.write(text);
  }

  /** Sends a request (raw text or an object) and waits for the answer with its id. */
  async request(msg: string | Record<string, unknown>): Promise<PluginMessage> {
    const raw = typeof msg === 'string' ? msg : JSON.stringify(msg);
    const id = (JSON.parse(raw) as { id?: string | number }).id;
    if (id === undefined) throw new Error(`not a request: ${raw.slice(0, 80)}`);
    const answer = this.response(id);
    this.send(raw);
    return answer;
  }

  /** The answer with exactly this id (already received or still to come). */
  response(id: string | number): Promise<PluginMessage> {
    return this.waitFor((m) => m.id === id && !('method' in m), `an answer to ${JSON.stringify(id)}`);
  }

  /** The first message (already received or later) that `match`es. */
  waitFor(match: (m: PluginMessage) => boolean, what: string): Promise<PluginMessage> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (m) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new Error(`plugin gave no ${what} within ${SAFETY_MS} ms; stderr: ${this.stderr.slice(-2000)}`),
        );
      }, SAFETY_MS);
      this.waiters.add(waiter);
      void this.exited.then(() => {
        if (!this.waiters.has(waiter)) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        reject(new Error(`plugin exited before ${what}; stderr: ${this.stderr.slice(-2000)}`));
      });
    });
  }

  /** Log notifications the plugin sent at `level`. */
  logs(level?: string): string[] {
    return this.messages
      .filter((m) => m.method === 'log' && (level === undefined || m.params?.level === level))
      .map((m) => String(m.params?.message));
  }

  /** Waits for the process to exit by itself. */
  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`plugin did not exit within ${SAFETY_MS} ms`)), SAFETY_MS);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process if it still runs and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  private onStdout(text: string): void {
    this.stdout += text;
    this.pending += text;
    for (let end = this.pending.indexOf('\n\n'); end >= 0; end = this.pending.indexOf('\n\n')) {
      const raw = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      const m = parseMessage(raw);
      if (typeof m === 'string') {
        this.framingErrors.push(m);
        continue;
      }
      this.messages.push(m);
      for (const w of [...this.waiters]) if (w.match(m)) w.resolve(m);
    }
  }
}

/** A well-formed JSON-RPC 2.0 message, or why `raw` is not one. */
function parseMessage(raw: string): PluginMessage | string {
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return `not JSON on stdout: ${JSON.stringify(raw.slice(0, 200))}`;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return `not an object: ${raw.slice(0, 200)}`;
  const o = m as Record<string, unknown>;
  if (o.jsonrpc !== '2.0') return `jsonrpc is not "2.0": ${raw.slice(0, 200)}`;
  const isAnswer = 'id' in o && !('method' in o) && 'result' in o !== 'error' in o;
  const isNotification = typeof o.method === 'string' && !('id' in o) && typeof o.params === 'object';
  if (!isAnswer && !isNotification) return `neither an answer nor a notification: ${raw.slice(0, 200)}`;
  if ('error' in o) {
    const e = o.error as Record<string, unknown> | null;
    if (typeof e?.code !== 'number' || typeof e.message !== 'string')
      return `error without code/message: ${raw.slice(0, 200)}`;
  }
  return o as PluginMessage;
}
