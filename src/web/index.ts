import { type ConnectionOptions, rpcSocketPath } from '../cli/connection.js';
import { CliError, EXIT } from '../cli/exit.js';
import { LightningRpc } from '../cln/rpc.js';
import { startWeb } from './server.js';

/** Addresses only this machine reaches. */
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

/**
 * `lnmsg web`: serves the inbox page for the node the connection options name, prints its URL
 * (with the access token) as the only line on stdout, and runs until SIGINT or SIGTERM.
 */
export async function serveWeb(
  connection: ConnectionOptions,
  o: { host: string; port: number },
  out: (text: string) => void,
): Promise<void> {
  const socket = rpcSocketPath(connection);
  const web = await startWeb({ rpc: new LightningRpc(socket, 'lnmsg-web'), ...o }).catch((e: Error) => {
    throw new CliError(`cannot listen on ${o.host} port ${o.port}: ${e.message}`, EXIT.usage);
  });
  if (!LOOPBACK.test(o.host)) {
    process.stderr.write(
      `lnmsg web: listening on ${o.host}, beyond this machine: whoever reaches it with the token reads the inbox, decides held payments and sends from this node\n`,
    );
  }
  process.stderr.write(`lnmsg web: serving the node at ${socket}; Ctrl-C stops\n`);
  out(web.url);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await web.close();
}
