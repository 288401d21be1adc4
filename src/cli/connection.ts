import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
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
  [-32602]: EXIT.usage,
};

/** An RPC connection whose failures become one-line CLI errors with the right exit code. */
export class NodeConnection {
  private readonly rpc: LightningRpc;

  constructor(readonly options: ConnectionOptions) {
    this.rpc = new LightningRpc(rpcSocketPath(options), 'lnmsg-cli');
  }

  async call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    try {
      return await this.rpc.call<T>(method, params);
    } catch (e) {
      if (e instanceof RpcConnectionError)
        throw new CliError(`cannot reach lightningd: ${e.message}`, EXIT.node);
      if (e instanceof RpcReplyError) throw new CliError(e.message, EXIT.node);
      if (e instanceof RpcError && e.code === UNKNOWN_COMMAND && method !== 'getinfo') {
        throw new CliError(
          `lightningd does not know ${method}: is the lnmsg plugin loaded? (lightningd --plugin=<lnmsg>/bin/lnmsg-plugin)`,
          EXIT.node,
        );
      }
      if (e instanceof RpcError) throw new CliError(e.message, EXIT_FOR_CODE[e.code] ?? EXIT.node);
      throw e;
    }
  }

  close(): void {
    this.rpc.close();
  }
}
