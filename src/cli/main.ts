import { Command, CommanderError, Option } from 'commander';
import { CAPACITY_DEFAULTS } from '../onion/capacity.js';
import { utf8 } from '../wire/bytes.js';
import { capacityTable, formatCapacity } from './capacity.js';
import { type ConnectionOptions, NodeConnection } from './connection.js';
import { formatDemo, runDemo } from './demo.js';
import { CliError, EXIT } from './exit.js';
import { everyEntry } from './lists.js';
import { formatSent } from './outbox.js';
import { decide, formatMessage, type MessageView, newPaymentHash, waitForMessage } from './receive.js';
import { escapeUntrusted } from './safe-text.js';
import { formatSend, send } from './send.js';

type Out = (text: string) => void;

/** A message in inbox and watch: when and which hash, then the message. */
function formatEntry(m: MessageView): string {
  const heading = `${new Date(m.received_at * 1000).toISOString()} ${m.payment_hash}`;
  return `${escapeUntrusted(heading)}\n${formatMessage(m)}\n`;
}

function wholeNumber(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new CliError(`${name} ${JSON.stringify(v)}: a whole number`, EXIT.usage);
    return v;
  };
}

/** Builds the `lnmsg` command line; `out` receives what is printed on stdout. */
export function cli(out: Out = (t) => process.stdout.write(`${t}\n`)): Command {
  const program = new Command('lnmsg')
    .description('Send and receive messages inside Lightning payments (Core Lightning + the lnmsg plugin)')
    .option('--lightning-dir <dir>', "lightningd's directory, as for lightning-cli", undefined)
    .option('--network <name>', 'bitcoin, testnet, signet or regtest', 'bitcoin')
    .option('--rpc-file <path>', 'the RPC socket (default <lightning-dir>/<network>/lightning-rpc)')
    .option('--json', 'print JSON for scripts')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  /** One line holding what the node answered: escaped, so it stays one line. */
  const line = (text: string) => out(escapeUntrusted(text));
  const globals = (cmd: Command) => cmd.optsWithGlobals() as ConnectionOptions & { json?: boolean };
  const withNode = async <T>(cmd: Command, fn: (node: NodeConnection) => Promise<T>) => {
    const node = new NodeConnection(globals(cmd));
    try {
      return await fn(node);
    } finally {
      node.close();
    }
  };

  program
    .command('demo')
    .description('See a message ride a real 3-hop onion, peeled hop by hop (no node needed)')
    .argument('[message...]', 'the message', ['hello from lnmsg'])
    .action((words: string[], _o, cmd: Command) => {
      const r = runDemo(utf8.encode(words.join(' ')));
      out(globals(cmd).json ? JSON.stringify(r, null, 2) : formatDemo(r));
    });

  program
    .command('capacity')
    .description('Largest message one HTLC carries, for 1..20 hops')
    .option(
      '--amount-msat <n>',
      'amount the payloads carry',
      wholeNumber('--amount-msat'),
      String(CAPACITY_DEFAULTS.amountMsat),
    )
    .option(
      '--blockheight <n>',
      'CLTV values the payloads carry',
      wholeNumber('--blockheight'),
      String(CAPACITY_DEFAULTS.blockheight),
    )
    .option(
      '--tlv-type <n>',
      'message record type',
      wholeNumber('--tlv-type'),
      String(CAPACITY_DEFAULTS.tlvType),
    )
    .option(
      '--sender-hop',
      "onions with the sender's own hop inside (injectpaymentonion, as xkeysend and xpay send)",
    )
    .action(
      (
        o: { amountMsat: string; blockheight: string; tlvType: string; senderHop?: boolean },
        cmd: Command,
      ) => {
        const opts = {
          amountMsat: BigInt(o.amountMsat),
          blockheight: Number(o.blockheight),
          tlvType: BigInt(o.tlvType),
          senderHop: o.senderHop === true,
        };
        const rows = capacityTable(opts);
        out(globals(cmd).json ? JSON.stringify(rows) : formatCapacity(rows, opts));
      },
    );

  program
    .command('receive')
    .description('Print a payment hash, wait for the message paid to it, print it')
    .option('--amount-msat <n>', 'least amount to accept')
    .option('--label <text>', 'a label kept with the message')
    .option(
      '--timeout <seconds>',
      'give up after this long (0: wait for ever)',
      wholeNumber('--timeout'),
      '0',
    )
    .option('--hold', 'see the message before the payment settles, then accept or refuse it')
    .action(async (o, cmd: Command) => {
      const json = globals(cmd).json;
      await withNode(cmd, async (node) => {
        const { paymentHash, nodeId } = await newPaymentHash(node, o);
        if (json) out(JSON.stringify({ payment_hash: paymentHash, destination: nodeId }));
        else {
          line(`payment hash: ${paymentHash}`);
          line(
            `pay it with:  lnmsg send --destination ${nodeId} --payment-hash ${paymentHash} --amount-msat N --message ...`,
          );
          out('waiting for the message...');
        }
        const m: MessageView = await waitForMessage(node, paymentHash, Number(o.timeout));
        out(json ? JSON.stringify(m) : formatMessage(m));
        if (o.hold) {
          const status = await decide(node, m);
          if (json) out(JSON.stringify({ payment_hash: paymentHash, status }));
          else
            line(
              status === 'held'
                ? `held: decide with lnmsg accept ${paymentHash} or lnmsg reject ${paymentHash}`
                : `payment ${status}`,
            );
        }
      });
    });

  program
    .command('send')
    .description('Pay a payment hash with a message (asks for what is not given)')
    .option('--destination <node_id>', 'the payee')
    .option('--payment-hash <hash>', 'from lnmsg receive on the payee')
    .option('--amount-msat <n>', 'amount to pay')
    .addOption(new Option('--message <text>', 'the message as text').conflicts(['hex', 'file']))
    .addOption(new Option('--hex <bytes>', 'the message as hex').conflicts(['file']))
    .option('--file <path>', 'the message from a file (binary is fine)')
    .option('--keysend', 'send spontaneously, without a payment hash from the payee')
    .option('--no-sign', 'do not name and sign as this node (the payee then sees no sender)')
    .option('--retry-for <seconds>', 'keep trying other routes this long (default 60)')
    .option(
      '--max-parts <n>',
      'most HTLCs a large message may use (default 128; mainnet channels allow ~30 each)',
    )
    .action(async (o, cmd: Command) => {
      await withNode(cmd, async (node) => {
        const r = await send(node, { ...o, progress: !globals(cmd).json && process.stderr.isTTY });
        out(globals(cmd).json ? JSON.stringify(r) : formatSend(r));
      });
    });

  /** A command printing every entry of a list method, oldest first. */
  const listing = <T extends { created_index: number }>(
    name: string,
    description: string,
    method: string,
    format: (entry: T) => string,
    none: string,
  ) =>
    program
      .command(name)
      .description(description)
      .action(async (_o, cmd: Command) => {
        const json = globals(cmd).json;
        await withNode(cmd, async (node) => {
          const shown = await everyEntry<T>(node, method, (e) => out(json ? JSON.stringify(e) : format(e)));
          if (shown === 0 && !json) out(none);
        });
      });
  listing(
    'inbox',
    'Every message received, oldest first',
    'receivemessage_list',
    formatEntry,
    'no messages yet',
  );
  listing('outbox', 'Every message sent, oldest first', 'sendmessage_list', formatSent, 'nothing sent yet');

  program
    .command('watch')
    .description('Print each message as it arrives, until interrupted')
    .action(async (_o, cmd: Command) => {
      await withNode(cmd, async (node) => {
        for (;;) {
          const m = await node.call<MessageView | null>('receivemessage_wait', { timeout: 60 });
          if (m) out(globals(cmd).json ? JSON.stringify(m) : formatEntry(m));
        }
      });
    });

  for (const [name, method] of [
    ['accept', 'receivemessage_accept'],
    ['reject', 'receivemessage_reject'],
  ] as const) {
    program
      .command(name)
      .description(name === 'accept' ? 'Settle a held message payment' : 'Refuse a held message payment')
      .argument('<payment_hash>')
      .argument(name === 'reject' ? '[reason]' : '[unused]')
      .action(async (hash: string, reason: string | undefined, _o, cmd: Command) => {
        await withNode(cmd, async (node) => {
          const r = await node.call<{ status: string }>(method, {
            payment_hash: hash,
            ...(name === 'reject' && reason ? { reason } : {}),
          });
          if (globals(cmd).json) out(JSON.stringify(r));
          else line(`payment ${r.status}`);
        });
      });
  }
  return program;
}

/**
 * Runs the CLI and returns the exit code; errors are one line on stderr, never a stack trace.
 * Their messages are escaped: lightningd's errors can quote what a remote node or sender wrote.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    await cli().parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof CliError) {
      process.stderr.write(`lnmsg: ${escapeUntrusted(e.message)}\n`);
      return e.code;
    }
    process.stderr.write(`lnmsg: unexpected error: ${escapeUntrusted(String((e as Error).message ?? e))}\n`);
    return EXIT.node;
  }
}
