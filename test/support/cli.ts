import { type ChildProcess, spawn } from 'node:child_process';
import { DEFAULT_MESSAGE_TLV_TYPE } from '../../src/index.js';
import type { TlvRecord } from '../../src/wire/tlv.js';
import { type IncomingRequest, resultLike, rpcRecord } from './fake-lightningd.js';
import { htlcRequest } from './htlc.js';
import { Node } from './plugin-node.js';
import type { PluginMessage } from './plugin-process.js';
import { projectRoot } from './shared.js';

export const LNMSG = `${projectRoot}/bin/lnmsg`;

/** The recorded payment the fake lightningd replays when lnmsg pays. */
export const PAID = 'injectpaymentonion-success';

/** The recorded payment's payee and payment hash: what `lnmsg send` must name to be paid. */
export function paidRecord(): { destination: string; hash: string } {
  const routes = rpcRecord(`${PAID}/getroutes`).request.params as { destination: string };
  const onion = rpcRecord(`${PAID}/createonion`).request.params as { assocdata: string };
  return { destination: routes.destination, hash: onion.assocdata };
}

/** `lnmsg send` with every flag, paying the recorded payment; `message` flags follow. */
export function paidSendFlags(...message: string[]): string[] {
  const { destination, hash } = paidRecord();
  return ['send', '--destination', destination, '--payment-hash', hash, '--amount-msat', '6000', ...message];
}

/** listsendpays as it stood before the recorded payment: that hash had no complete payment yet. */
export function listsendpaysBefore(req: IncomingRequest) {
  const { payments } = rpcRecord('listsendpays').reply.result as { payments: Record<string, unknown>[] };
  const hash = (req.params as { payment_hash?: string }).payment_hash;
  return resultLike('listsendpays', req.id, {
    payments: payments.filter((p) => p.payment_hash === hash && p.status !== 'complete'),
  });
}

/**
 * A node as the CLI sees it: the lnmsg plugin behind the fake lightningd, its methods passed
 * through, and what it asks lightningd to pay answered from the recorded successful payment.
 */
export async function cliNode(options: Record<string, unknown> = {}): Promise<Node> {
  const node = await Node.start();
  await node.startPlugin(options);
  return node.passLnmsgThrough().everyStart((fake) => {
    fake.handle('listsendpays', listsendpaysBefore);
    for (const m of ['getroutes', 'createonion', 'injectpaymentonion']) fake.replyWith(m, `${PAID}/${m}`);
    fake.replyWith('signmessage', 'signmessage');
  });
}

/**
 * A 1000 msat HTLC paying `hash` with `message` in lnmsg's record (and `records` beside it)
 * reaches the node; resolves with the plugin's answer.
 */
export function deliver(
  node: Node,
  hash: string,
  message: Uint8Array,
  records: TlvRecord[] = [],
): Promise<PluginMessage> {
  return node.hook(
    htlcRequest({
      paymentHash: hash,
      payload: {
        amtToForward: 1000n,
        outgoingCltvValue: 126,
        customRecords: [{ type: DEFAULT_MESSAGE_TLV_TYPE, value: message }, ...records],
      },
    }),
  );
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
