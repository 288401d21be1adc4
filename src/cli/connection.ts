import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LightningRpc, RpcConnectionError, RpcError, RpcReplyError, UNKNOWN_COMMAND } from '../cln/rpc.js';
import { CliError, EXIT } from './exit.js';

export interface ConnectionOptions {
  lightningDir?: string;
  network?: string;
  rpcFile?: string;
}

/** Where lightning-cli would look: <lightning-dir>/<network>/lightning-rpc, unless --rpc-file says otherwise. */
export function rpcSocketPath(o: ConnectionOptions): string {
  const dir = join(o.lightningDir ?? join(homedir(), '.lightning'), o.network ?? 'bitcoin');
  const file = o.rpcFile ?? 'lightning-rpc';
  return isAbsolute(file) ? file : join(dir, file);
}

/** Error codes of the plugin's methods (see lnmsg-plugin.ts) and what the CLI exits with for each. */
const EXIT_FOR_CODE: Record<number, number> = {
  1601: EXIT.failed,
  1602: EXIT.failed,
  1603: EXIT.usage,
  1604: EXIT.failed,
};

/** lightningd is not there: not running, or restarting. */
export class Unreachable extends CliError {}

/** lightningd answers but lnmsg does not: not loaded, or not started yet after a restart. */
export class PluginAbsent extends CliError {}

/** Waits between attempts while lightningd is away: 0.5 s, doubling up to 10 s. */
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 10_000;

/** A failed call as one line for the operator, with the exit code scripts can rely on. */
function cliError(method: string, e: unknown): unknown {
  if (e instanceof RpcConnectionError)
    return new Unreachable(`cannot reach lightningd: ${e.message}`, EXIT.node);
  if (e instanceof RpcReplyError) return new CliError(e.message, EXIT.node);
  if (e instanceof RpcError && e.code === UNKNOWN_COMMAND && method !== 'getinfo') {
    return new PluginAbsent(
      `lightningd does not know ${method}: is the lnmsg plugin loaded? (lightningd --plugin=<lnmsg>/bin/lnmsg-plugin)`,
      EXIT.node,
    );
  }
  // A plugin (re)started but not yet through init: absent for a moment, as a restart rides out.
  if (e instanceof RpcError && e.code === -32603 && /not initialised yet|before init/.test(e.message))
    return new PluginAbsent(`lnmsg is still starting: ${e.reason}`, EXIT.node);
  // The plugin's own sentence names the parameter and says why: the method and code add nothing.
  if (e instanceof RpcError && e.code === -32602) return new CliError(e.reason, EXIT.usage);
  if (e instanceof RpcError) return new CliError(e.message, EXIT_FOR_CODE[e.code] ?? EXIT.node);
  return e;
}

/** An RPC connection whose failures become one-line CLI errors with the right exit code. */
export class NodeConnection {
  private readonly rpc: LightningRpc;
  /** Set while `rideOut` waits for lightningd to come back, so each change is said once. */
  private away = false;

  constructor(
    readonly options: ConnectionOptions,
    /** Where `rideOut` tells the operator that lightningd went away and came back. */
    private readonly note: (text: string) => void = (t) => process.stderr.write(`${t}\n`),
  ) {
    this.rpc = new LightningRpc(rpcSocketPath(options), 'lnmsg-cli');
  }

  async call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    let result: T;
    try {
      result = await this.rpc.call<T>(method, params);
    } catch (e) {
      throw cliError(method, e);
    }
    if (this.away) this.note('reconnected');
    this.away = false;
    return result;
  }

  /**
   * Runs `attempt`, riding out a lightningd restart: while lightningd is unreachable (and, once it
   * was, until lnmsg is loaded in it again) it says so once, waits with backoff and runs `attempt`
   * again; the first call that gets through says it is back. Only for what may be repeated:
   * reads and waits. Past `deadlineMs` (ms since 1970) the last error is thrown.
   */
  async rideOut<T>(attempt: () => Promise<T>, deadlineMs = Number.POSITIVE_INFINITY): Promise<T> {
    for (let delay = RECONNECT_FIRST_MS; ; delay = Math.min(2 * delay, RECONNECT_MAX_MS)) {
      try {
        return await attempt();
      } catch (e) {
        if (!(e instanceof Unreachable || (this.away && e instanceof PluginAbsent))) throw e;
        const left = deadlineMs - Date.now();
        if (left <= 0) throw e;
        if (!this.away) this.note('lightningd went away: reconnecting…');
        this.away = true;
        await sleep(Math.min(delay, left));
      }
    }
  }

  close(): void {
    this.rpc.close();
  }
}
