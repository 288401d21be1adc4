import { type ChildProcess, spawn } from 'node:child_process';
import { DEFAULT_MESSAGE_TLV_TYPE } from '../../src/index.js';
import type { TlvRecord } from '../../src/wire/tlv.js';
import { htlcRequest } from './htlc.js';
import { Node, recordedPayment } from './plugin-node.js';

export { listsendpaysBefore, PAID, recordedPayment } from './plugin-node.js';
import type { PluginMessage } from './plugin-process.js';
import { projectRoot } from './shared.js';

export const LNMSG = `${projectRoot}/bin/lnmsg`;

/** `lnmsg send` with every flag, paying the recorded payment; `message` flags follow. */
export function paidSendFlags(...message: string[]): string[] {
  const { destination, hash } = recordedPayment();
  return ['send', '--destination', destination, '--payment-hash', hash, '--amount-msat', '5000', ...message];
}

/** A node as the CLI sees it: the lnmsg plugin behind the fake lightningd, serving clients. */
export async function cliNode(options: Record<string, unknown> = {}): Promise<Node> {
  const node = await Node.start();
  await node.startPlugin(options);
  node.serveClients();
  return node;
}

/**
 * A 1000 msat HTLC paying `hash` with `message` in lnmsg's record (and `records` beside it)
 * reaches the node; resolves with the plugin's answer. For one of lightningd's invoices (made
 * through the fake) the HTLC carries its payment secret, is handed on, and lightningd's
 * `invoice_payment` hook (then, if settled, its notification) follows: its answer is the one given.
 */
export async function deliver(
  node: Node,
  hash: string,
  message: Uint8Array,
  records: TlvRecord[] = [],
): Promise<PluginMessage> {
  const inv = node.invoices.get(hash);
  const htlc = node.hook(
    htlcRequest({
      paymentHash: hash,
      payload: {
        amtToForward: 1000n,
        outgoingCltvValue: 126,
        ...(inv ? { paymentData: { paymentSecret: inv.secret, totalMsat: 1000n } } : {}),
        customRecords: [{ type: DEFAULT_MESSAGE_TLV_TYPE, value: message }, ...records],
      },
    }),
  );
  if (!inv) return htlc;
  const handed = await htlc;
  if ((handed.result as { result?: string }).result !== 'continue') return handed;
  const answer = await node.invoicePayment(inv.label, inv.preimage, 1000);
  if ((answer.result as { result?: string }).result === 'continue')
    node.invoicePaid(inv.label, inv.preimage, 1000);
  return answer;
}

/** The CLI against the fake node; `tty` runs it under `script` so it has a terminal to ask on. */
export function lnmsg(socket: string, args: string[], tty = false): ChildProcess {
  const argv = [LNMSG, '--rpc-file', socket, ...args];
  if (!tty) return spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  const command = [process.execPath, ...argv].map((a) => `'${a}'`).join(' ');
  // A pty made by `script` has no size; give it one so the prompts are not wrapped per character.
  return spawn('script', ['-qfec', `stty cols 200 rows 50; exec ${command}`, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** --json output: one JSON object per line. */
export function jsonLines<T>(stdout: string): T[] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as T);
}

export interface Output {
  /** stdout and stderr as they came. */
  text: () => string;
  stdout: () => Buffer;
  stderr: () => string;
  done: Promise<number | null>;
}

export function output(child: ChildProcess): Output {
  let text = '';
  let stderr = '';
  const stdout: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    text += d;
    stdout.push(d);
  });
  child.stderr?.on('data', (d) => {
    text += d;
    stderr += d;
  });
  return {
    text: () => text,
    stdout: () => Buffer.concat(stdout),
    stderr: () => stderr,
    done: new Promise((r) => child.on('close', r)),
  };
}

/** Resolves once `child`'s output so far matches `re`. */
export function until(out: { text: () => string }, child: ChildProcess, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (re.test(out.text())) {
        child.stdout?.off('data', check);
        child.stderr?.off('data', check);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.on('close', () => reject(new Error(`exited before ${re}: ${out.text()}`)));
    check();
  });
}
