import { Argument, Command, CommanderError, Option } from 'commander';
import { countProblem, paymentHashProblem } from '../cln/params.js';
import { CAPACITY_DEFAULTS } from '../onion/capacity.js';
import { serveWeb } from '../web/index.js';
import { utf8 } from '../wire/bytes.js';
import { capacityTable, formatCapacity } from './capacity.js';
import { type ConnectionOptions, NodeConnection } from './connection.js';
import { formatDemo, runDemo } from './demo.js';
import { CliError, EXIT } from './exit.js';
import { checked } from './input.js';
import { entriesFrom } from './lists.js';
import { formatSent, type SentView } from './outbox.js';
import { decide, formatMessage, type MessageView, newPayTo, SHOWN_CHARS, waitForMessage } from './receive.js';
import { escapeUntrusted } from './safe-text.js';
import { formatSend, send } from './send.js';

type Out = (text: string) => void;

/** A message in inbox and watch: when and which hash, then the message (long ones cut unless `full`). */
function formatEntry(m: MessageView, full: boolean): string {
  const heading = `${new Date(m.received_at * 1000).toISOString()} ${m.payment_hash}`;
  return `${escapeUntrusted(heading)}\n${formatMessage(m, full)}\n`;
}

type Listed = { messages: MessageView[] };

/**
 * The newest message's created_index (0 when there is none), in a few one-message reads: a
 * list has no "last", so double the start until nothing is found, then halve the gap.
 */
async function newestCreatedIndex(node: NodeConnection): Promise<number> {
  const firstFrom = async (start: number) =>
    (await node.call<Listed>('receivemessage_list', { index: 'created', start, limit: 1 })).messages[0]
      ?.created_index;
  let lo = 0; // the newest index seen
  let hi = 1; // a start that found nothing
  for (let i = await firstFrom(hi); i !== undefined; i = await firstFrom(hi)) {
    lo = i;
    hi = 2 * i;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const i = await firstFrom(mid);
    if (i === undefined) hi = mid;
    else lo = i;
  }
  return lo;
}

/** A flag's parser: the value if it is a whole number, else a usage error naming the flag. */
function wholeNumber(flag: string) {
  return (v: string) => checked(flag, v, countProblem(v));
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
      out(globals(cmd).json ? JSON.stringify(r) : formatDemo(r));
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
        if (globals(cmd).json) for (const row of rows) out(JSON.stringify(row));
        else out(formatCapacity(rows, opts));
      },
    );

  program
    .command('receive')
    .description('Print an invoice to pay with a message, wait for the message, print it')
    .option('--amount-msat <n>', 'the amount the invoice asks (default: any amount)')
    .option('--label <text>', 'the invoice label, kept with the message')
    .option('--description <text>', 'the invoice description')
    .option(
      '--timeout <seconds>',
      'give up after this long (0: wait for ever)',
      wholeNumber('--timeout'),
      '0',
    )
    .option('--hold', 'see the message before the payment settles, then accept or refuse it')
    .option(
      '--hash-only',
      "the seed's flow: a bare payment hash, no invoice (a node on the route could forge the message)",
    )
    .action(async (o, cmd: Command) => {
      const json = globals(cmd).json;
      await withNode(cmd, async (node) => {
        const payTo = await newPayTo(node, o);
        const paymentHash = payTo.payment_hash;
        if (json) out(JSON.stringify(payTo));
        else if ('bolt11' in payTo) {
          line(`invoice:      ${payTo.bolt11}`);
          line(`payment hash: ${paymentHash}`);
          line(`pay it with:  lnmsg send ${payTo.bolt11} "your message"`);
          out('waiting for the message...');
        } else {
          line(`payment hash: ${paymentHash}`);
          line(
            `pay it with:  lnmsg send --destination ${payTo.destination} --payment-hash ${paymentHash} --amount-msat N --message ...`,
          );
          out('waiting for the message...');
        }
        const m: MessageView = await waitForMessage(node, paymentHash, Number(o.timeout));
        out(json ? JSON.stringify(m) : formatMessage(m));
        if (o.hold) {
          const d = await decide(node, m);
          if (json) out(JSON.stringify({ payment_hash: paymentHash, ...d }));
          else if (d.status === 'held')
            line(`held: decide with lnmsg accept ${paymentHash} or lnmsg reject ${paymentHash}`);
          else
            line(
              `payment ${d.status}${d.elsewhere ? ' elsewhere' : ''}${d.reason === undefined ? '' : `: ${d.reason}`}`,
            );
        }
      });
    });

  program
    .command('send')
    .description('Pay an invoice, or a payment hash, with a message (asks for what is not given)')
    .argument('[invoice]', 'a BOLT 11 invoice to pay (instead of --destination and --payment-hash)')
    .argument('[message]', 'the message as text (instead of --message)')
    .option('--destination <node_id>', 'the payee')
    .option('--payment-hash <hash>', 'from lnmsg receive on the payee')
    .option('--amount-msat <n>', 'amount to pay (with an invoice: only for one that names none)')
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
    .action(async (bolt11: string | undefined, text: string | undefined, o, cmd: Command) => {
      if (text !== undefined && (o.message ?? o.hex ?? o.file) !== undefined)
        throw new CliError(
          'give the message once: as the argument or as --message, --hex or --file',
          EXIT.usage,
        );
      await withNode(cmd, async (node) => {
        const r = await send(node, {
          ...o,
          bolt11,
          ...(text === undefined ? {} : { message: text }),
          progress: !globals(cmd).json && process.stderr.isTTY,
        });
        out(globals(cmd).json ? JSON.stringify(r) : formatSend(r));
      });
    });

  const fullOption = () => new Option('--full', `show messages longer than ${SHOWN_CHARS} characters whole`);

  /** A command printing every entry of a list method, oldest first. */
  const listing = <T extends { created_index: number }>(
    name: string,
    description: string,
    method: string,
    format: (entry: T, full: boolean) => string,
    none: string,
  ) =>
    program
      .command(name)
      .description(description)
      .addOption(fullOption())
      .action(async (o: { full?: boolean }, cmd: Command) => {
        const json = globals(cmd).json;
        await withNode(cmd, async (node) => {
          let shown = 0;
          for await (const e of entriesFrom<T>(node, method)) {
            out(json ? JSON.stringify(e) : format(e, o.full === true));
            shown++;
          }
          if (shown === 0 && !json) out(none);
        });
      });
  listing<MessageView>(
    'inbox',
    'Every message received, oldest first',
    'receivemessage_list',
    formatEntry,
    'no messages yet',
  );
  listing<SentView>(
    'outbox',
    'Every message sent, oldest first',
    'sendmessage_list',
    formatSent,
    'nothing sent yet',
  );

  program
    .command('watch')
    .description('Print each message as it arrives, until interrupted (rides out lightningd restarts)')
    .addOption(fullOption())
    .action(async (o: { full?: boolean }, cmd: Command) => {
      const json = globals(cmd).json;
      await withNode(cmd, async (node) => {
        let newest = await newestCreatedIndex(node);
        // From here on every message stored is shown: said, so a script (or a test) knows when.
        process.stderr.write('waiting for new messages (Ctrl-C to stop)…\n');
        // Each round catches up by index, not by what the wait returned, so a round run again after
        // a lightningd restart prints what arrived meanwhile, and nothing twice.
        const round = async () => {
          // Asked first, so a message stored while the list below is read still wakes it.
          const woken = node.call('receivemessage_wait', { timeout: 60 });
          woken.catch(() => undefined); // awaited below; not unhandled if the list fails first
          for await (const m of entriesFrom<MessageView>(node, 'receivemessage_list', newest + 1)) {
            out(json ? JSON.stringify(m) : formatEntry(m, o.full === true));
            newest = m.created_index;
          }
          await woken;
        };
        for (;;) await node.rideOut(round);
      });
    });

  program
    .command('web')
    .description('Serve the inbox page on this machine; prints its URL with an access token')
    .option('--port <n>', 'port to listen on (0: any free one)', wholeNumber('--port'), '8089')
    .option('--host <address>', 'address to listen on; anything but loopback exposes the page', '127.0.0.1')
    .action((o: { port: string; host: string }, cmd: Command) =>
      serveWeb(globals(cmd), { host: o.host, port: Number(o.port) }, out),
    );

  const hashArgument = () =>
    new Argument('<payment_hash>', 'the held payment (from lnmsg receive --hold, watch or inbox)').argParser(
      (v: string) => checked('payment_hash', v, paymentHashProblem(v)),
    );
  const decision = async (cmd: Command, method: string, params: Record<string, unknown>) =>
    withNode(cmd, async (node) => {
      const r = await node.call<{ status: string }>(method, params);
      if (globals(cmd).json) out(JSON.stringify(r));
      else line(`payment ${r.status}`);
    });

  program
    .command('accept')
    .description('Settle a held message payment')
    .addArgument(hashArgument())
    .action((hash: string, _o, cmd: Command) =>
      decision(cmd, 'receivemessage_accept', { payment_hash: hash }),
    );

  program
    .command('reject')
    .description('Refuse a held message payment: the payer gets the money back')
    .addArgument(hashArgument())
    .argument('[reason]', 'why, kept with the message (default "rejected by the payee")')
    .action((hash: string, reason: string | undefined, _o, cmd: Command) =>
      decision(cmd, 'receivemessage_reject', {
        payment_hash: hash,
        ...(reason === undefined ? {} : { reason }),
      }),
    );
  return program;
}

/**
 * Runs the CLI and returns the exit code; errors are one line on stderr, never a stack trace.
 * Their messages are escaped: lightningd's errors can quote what a remote node or sender wrote.
 */
export async function main(argv: string[]): Promise<number> {
  endQuietlyWhenReaderLeaves();
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

/**
 * A reader that stops reading (`| head`, quitting `less`) has what it wanted: lnmsg ends at once
 * with 0, whatever the command, so `set -o pipefail` scripts carry on. Another write error (a
 * full disk) is one line and exit 3. A stderr that cannot be written is ignored: the exit status
 * still tells.
 */
function endQuietlyWhenReaderLeaves(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT.ok);
    process.stderr.write(`lnmsg: cannot write the output: ${e.message}\n`);
    process.exit(EXIT.node);
  });
  process.stderr.on('error', () => undefined);
}
