import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { LightningRpc, RpcError } from '../../src/cln/rpc.js';
import { projectRoot, sharedDir } from '../../test/support/shared.js';

const run = promisify(execFile);
const NET = join(sharedDir, 'tools', 'simchain', 'net.sh');
export const PLUGIN = resolve(projectRoot, 'bin', 'lnmsg-plugin');
const LNMSG = resolve(projectRoot, 'bin', 'lnmsg');

/** A line of real lightningd nodes on simchain; every test stops what it starts. */
export class Network {
  private readonly rpcs = new Map<number, LightningRpc>();
  private readonly env: NodeJS.ProcessEnv;

  private constructor(
    readonly dir: string,
    readonly size: number,
    ports: { chain: number; base: number },
    env: Record<string, string>,
  ) {
    this.env = { ...process.env, ...env, CHAIN_PORT: String(ports.chain), BASE_PORT: String(ports.base) };
  }

  /** Starts `size` nodes, each with `args` (by default the lnmsg plugin) and `env`. */
  static async start(
    size: number,
    args: string[] = [`--plugin=${PLUGIN}`],
    env: Record<string, string> = {},
  ): Promise<Network> {
    const dir = mkdtempSync(join(tmpdir(), 'lnmsg-e2e-'));
    // Ports from the process id so two runs side by side do not collide.
    const base = 20000 + ((process.pid * 7) % 20000);
    const net = new Network(dir, size, { chain: base, base: base + 10 }, env);
    try {
      await net.sh('start', String(size), dir, ...args);
    } catch (e) {
      // A start that fails half way leaves the chain and the first nodes running.
      await net.stop();
      throw e;
    }
    return net;
  }

  private async sh(...args: string[]): Promise<string> {
    const { stdout } = await run(NET, args, { env: this.env, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }

  nodeDir(k: number): string {
    return join(this.dir, `n${k}`);
  }

  rpc(k: number): LightningRpc {
    let r = this.rpcs.get(k);
    if (!r) {
      r = new LightningRpc(join(this.nodeDir(k), 'regtest', 'lightning-rpc'), 'e2e');
      this.rpcs.set(k, r);
    }
    return r;
  }

  call<T = Record<string, unknown>>(
    k: number,
    method: string,
    params: Record<string, unknown> = {},
  ): Promise<T> {
    return this.rpc(k).call<T>(method, params);
  }

  /** Core Lightning's own keysend from node k: `xkeysend` (v26.06+), else the older `keysend`. */
  async coreKeysend(k: number, params: Record<string, unknown>): Promise<unknown> {
    return this.call(k, 'xkeysend', params).catch((e: unknown) => {
      if (!(e instanceof RpcError && e.code === -32601)) throw e;
      return this.call(k, 'keysend', params);
    });
  }

  async id(k: number): Promise<string> {
    return (await this.call<{ id: string }>(k, 'getinfo')).id;
  }

  /** kill -9 node k and start it again (with the same plugin args, plus `extra`). */
  async restart(k: number, ...extra: string[]): Promise<void> {
    this.rpcs.get(k)?.close();
    this.rpcs.delete(k);
    await this.sh('restart', this.dir, String(k), ...extra);
  }

  /** kill -9 node k and leave it down. */
  kill9(k: number): void {
    this.rpcs.get(k)?.close();
    this.rpcs.delete(k);
    process.kill(Number(readFileSync(join(this.nodeDir(k), 'pid'), 'utf8')), 'SIGKILL');
  }

  /** Waits until node k has an active channel to each neighbour again (after a restart). */
  async channelsActive(k: number): Promise<void> {
    const want = (k > 1 ? 1 : 0) + (k < this.size ? 1 : 0);
    for (;;) {
      const { channels } = await this.call<{ channels: { state: string; peer_connected: boolean }[] }>(
        k,
        'listpeerchannels',
      );
      if (channels.filter((c) => c.state === 'CHANNELD_NORMAL' && c.peer_connected).length >= want) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async mine(blocks: number): Promise<void> {
    await this.sh('mine', this.dir, String(blocks));
  }

  /** Runs the lnmsg CLI against node k. */
  lnmsg(k: number, ...args: string[]): ChildProcess {
    return spawn(
      process.execPath,
      [LNMSG, '--lightning-dir', this.nodeDir(k), '--network', 'regtest', ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  }

  /** `lnmsg --json send` from node k, with the message flags in `extra`. */
  lnmsgSend(
    k: number,
    destination: string,
    hash: string,
    amountMsat: number,
    ...extra: string[]
  ): ChildProcess {
    const flags = ['--destination', destination, '--payment-hash', hash, '--amount-msat', String(amountMsat)];
    return this.lnmsg(k, '--json', 'send', ...flags, ...extra);
  }

  /** Stops every node and the chain, and removes their folder. */
  /** Stops the network, waits (at most 10 s) for its processes to exit, then removes its directory. */
  async stop(): Promise<void> {
    const pidFiles = [join(this.dir, 'chaind.pid')];
    for (let k = 1; k <= this.size; k++) pidFiles.push(join(this.nodeDir(k), 'pid'));
    const pids = pidFiles.filter((f) => existsSync(f)).map((f) => Number(readFileSync(f, 'utf8')));
    for (const r of this.rpcs.values()) r.close();
    await this.sh('stop', this.dir).catch(() => {});
    // net.sh stop signals without waiting; files removed under a live lightningd may come back.
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let waited = 0; waited < 10_000 && pids.some(alive); waited += 100)
      await new Promise((r) => setTimeout(r, 100));
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

/** Resolves once `check` holds (checked every 200 ms, for at most 2 minutes). */
export async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Collects a child's output and resolves when it exits. */
export function finished(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Resolves with the first stdout line matching `re`. */
export function lineMatching(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d) => {
      buf += d;
      const m = re.exec(buf);
      if (m) resolve(m);
    });
    child.on('close', () => reject(new Error(`exited before printing ${re}: ${buf}`)));
  });
}

/**
 * What node k owns on its channels, in msat, once no HTLC is in flight on them (a payment that
 * just settled or failed is still being committed for a moment, longer on older versions).
 */
export async function spendable(net: Network, k: number): Promise<number> {
  for (;;) {
    const { channels } = await net.call<{ channels: { to_us_msat?: number; htlcs?: unknown[] }[] }>(
      k,
      'listpeerchannels',
    );
    if (channels.every((c) => (c.htlcs ?? []).length === 0))
      return channels.reduce((n, c) => n + (c.to_us_msat ?? 0), 0);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every entry of a list method on node k, read page by page as any client must. */
export async function everyEntry<T extends { created_index: number }>(
  net: Network,
  k: number,
  method: string,
) {
  const all: T[] = [];
  for (let start = 0; ;) {
    const { messages } = await net.call<{ messages: T[] }>(k, method, { start, limit: 1000 });
    all.push(...messages);
    if (messages.length < 1000) return all;
    start = (messages.at(-1) as T).created_index + 1;
  }
}

/** lightningd's status of node k's (default the last's) invoice for `paymentHash`: unpaid, paid, expired. */
export async function invoiceStatus(net: Network, paymentHash: string, k = net.size) {
  const { invoices } = await net.call<{ invoices: { status: string }[] }>(k, 'listinvoices', {
    payment_hash: paymentHash,
  });
  return invoices[0]?.status;
}

/** Every message node k (default the last) stored. */
export function everyMessage(net: Network, k = net.size) {
  type Listed = {
    payment_hash: string;
    message: string;
    status: string;
    spontaneous: boolean;
    created_index: number;
  };
  return everyEntry<Listed>(net, k, 'receivemessage_list');
}

/** A network started before a suite's tests and stopped after them; `payee` is the last node's id. */
export function networkForSuite(size = 3, args?: string[], env?: Record<string, string>) {
  const suite = {} as { net: Network; payee: string };
  before(async () => {
    suite.net = await Network.start(size, args, env);
    suite.payee = await suite.net.id(size);
  });
  after(() => suite.net?.stop());
  return suite;
}
