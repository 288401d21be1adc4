import { CONTINUE } from './cln/hook-types.js';
import { invoiceProblem } from './cln/params.js';
import { captureConsole, MethodError, Plugin, type PluginContext } from './cln/plugin.js';
import { DEFAULT_MESSAGE_TLV_TYPE } from './onion/capacity.js';
import { messageView } from './receive/format.js';
import { htlcAccepted, invoicePaid, invoicePayment } from './receive/hook.js';
import {
  receiveMessageAccept,
  receiveMessageDelete,
  receiveMessageInvoice,
  receiveMessageList,
  receiveMessageNew,
  receiveMessagePoll,
  receiveMessageReject,
  receiveMessageWait,
} from './receive/methods.js';
import { DECIDE_DEFAULTS, optionsProblem, receiverConfig } from './receive/options.js';
import { NodeInvoices } from './receive/node-invoices.js';
import { RECEIVER_DEFAULTS } from './receive/config.js';
import { Receiver } from './receive/receiver.js';
import { sendMessageMethod, sendMessageStatus } from './send/method.js';
import { listSendPays, Outbox, sendpayNotified } from './send/outbox.js';
import { sendMessageDelete, sendMessageList } from './send/outbox-methods.js';
import { blockAdded, Sender } from './send/sender.js';
import { DatastoreKv } from './store/kv.js';
import { MessageStore } from './store/messages.js';
import { OutboxStore } from './store/outbox.js';
import { fromHex } from './wire/bytes.js';

export { LNMSG_ERRORS } from './send/method.js';
export { tlvTypeProblem } from './receive/options.js';

/** sendmessage's positional form when its first parameter is an invoice. */
const SENDMESSAGE_BOLT11_USAGE = 'bolt11 message [amount_msat] [retry_for] [maxfee_msat] [sign] [max_parts]';

/** How long held messages wait, after a node start, for lightningd to replay their HTLCs. */
const REPLAY_GRACE_MS = 60_000;
/** How often expired unpaid payment hashes are swept away. */
const SWEEP_EVERY_MS = 3_600_000;

/**
 * lightningd (v26.06 and before) never finishes re-ordering the htlc_accepted hook chain for a
 * plugin started while the node runs, once any plugin resolved or failed an HTLC: lnmsg then runs
 * after the keysend plugin, which settles spontaneous messages itself with the message stripped.
 */
const DYNAMIC_START_WARNING =
  'started with `plugin start`: until lightningd restarts, spontaneous (keysend) messages may be settled by its keysend plugin without reaching lnmsg (lightningd defers the hook order); messages to lnmsg payment hashes are not affected';

/** lnmsg as a Core Lightning plugin: options, RPC methods, the htlc_accepted hook. */
export function lnmsgPlugin(): Plugin {
  let receiver: Receiver | undefined;
  let sender: Sender | undefined;
  let outbox: Outbox | undefined;
  const rx = () => receiver ?? notReady();
  const tx = () => sender ?? notReady();
  const ob = () => outbox ?? notReady();

  const plugin = new Plugin({ dynamic: true })
    .option('lnmsg-tlv-type', {
      type: 'int',
      default: Number(DEFAULT_MESSAGE_TLV_TYPE),
      description: 'TLV record type of the message in the final hop payload (>= 65536)',
    })
    .option('lnmsg-max-message-bytes', {
      type: 'int',
      default: RECEIVER_DEFAULTS.maxMessageBytes,
      description: 'Largest message accepted; larger ones are refused',
    })
    .option('lnmsg-min-amount-msat', {
      type: 'int',
      default: RECEIVER_DEFAULTS.minAmountMsat,
      description: 'Smallest payment that may carry a message',
    })
    .option('lnmsg-max-stored-bytes', {
      type: 'int',
      default: RECEIVER_DEFAULTS.maxStoredBytes,
      description: 'Bytes of spontaneous (unsolicited) messages kept at most; past it new ones are refused',
    })
    .option('lnmsg-spontaneous', {
      type: 'string',
      default: RECEIVER_DEFAULTS.spontaneous,
      description: 'accept or refuse spontaneous (keysend) messages',
    })
    .option('lnmsg-decide-command', {
      type: 'string',
      default: '',
      description:
        'Shell command run with each message as JSON on stdin before it settles: exit 0 settles, else refuses',
    })
    .option('lnmsg-decide-url', {
      type: 'string',
      default: '',
      description: 'Local URL each message is POSTed to as JSON before it settles: 2xx settles, else refuses',
    })
    .option('lnmsg-decide-timeout', {
      type: 'int',
      default: DECIDE_DEFAULTS.timeoutSeconds,
      description: 'Seconds a decide command or URL may take; then it is killed and the message refused',
    })
    .option('lnmsg-decide-concurrency', {
      type: 'int',
      default: DECIDE_DEFAULTS.concurrency,
      description: 'Decide commands or URL requests running at once at most; others wait their turn',
    })
    .notification('lnmsg_received')
    .onInit(async (ctx) => {
      const problem = optionsProblem(ctx.options);
      if (problem) return problem;
      receiver = await startReceiver(ctx);
      sender = new Sender(ctx.rpc, (m) => ctx.log('info', m));
      // Set before it opens, so the notifications of its pending payments reach it.
      outbox = new Outbox(new OutboxStore(new DatastoreKv(ctx.rpc)), listSendPays(ctx.rpc), ctx.log);
      await outbox.open();
      return undefined;
    })
    .subscribe('block_added', (p) => blockAdded(sender, p))
    .subscribe('sendpay_success', (p) => sendpayNotified(outbox, p))
    .subscribe('sendpay_failure', (p) => sendpayNotified(outbox, p))
    // Before lightningd's keysend plugin, which strips unknown even records (OBSERVED.md).
    .hook('htlc_accepted', { before: ['keysend'], fallback: CONTINUE }, (payload) =>
      htlcAccepted(receiver, payload),
    )
    .hook('invoice_payment', { fallback: CONTINUE }, (payload) => invoicePayment(receiver, payload))
    .subscribe('invoice_payment', (p) => invoicePaid(receiver, p))
    .method(
      'sendmessage',
      {
        usage: 'destination [payment_hash] msatoshi message [retry_for] [maxfee_msat] [sign] [max_parts]',
        description:
          'Pay payment_hash at destination with a message in the final hop payload (keysend without payment_hash); ' +
          `or pay an invoice with it: ${SENDMESSAGE_BOLT11_USAGE}`,
        alternative: {
          usage: SENDMESSAGE_BOLT11_USAGE,
          when: (first) => invoiceProblem(first) === undefined,
        },
      },
      (p, ctx) => sendMessageMethod(tx(), ob(), p, ctx),
    )
    .method(
      'sendmessage_list',
      {
        usage: '[index] [start] [limit]',
        description: 'Messages sent by created (default) or updated index, from start, at most limit (100)',
      },
      (p) => sendMessageList(ob(), p),
    )
    .method(
      'sendmessage_delete',
      { usage: 'payment_hash', description: 'Delete a sent message from the outbox (not a pending one)' },
      (p) => sendMessageDelete(ob(), p),
    )
    .method(
      'sendmessage_status',
      { usage: 'payment_hash', description: 'HTLCs sent so far for a sendmessage in progress' },
      sendMessageStatus,
    )
    .method(
      'receivemessage_new',
      {
        usage: '[amount_msat] [label] [hold] [expiry]',
        description: 'A new payment hash to receive a message on (expiry in seconds, default a week)',
      },
      (p) => receiveMessageNew(rx(), p),
    )
    .method(
      'receivemessage_invoice',
      {
        usage: '[amount_msat] [label] [description] [hold] [expiry]',
        description:
          'A BOLT 11 invoice of this node to receive a message on: every part must carry its payment secret',
      },
      (p) => receiveMessageInvoice(rx(), p),
    )
    .method(
      'receivemessage_poll',
      {
        usage: 'payment_hash',
        description: 'null until the message for payment_hash arrived, then {amount, message}',
      },
      (p) => receiveMessagePoll(rx(), p),
    )
    .method(
      'receivemessage_wait',
      {
        usage: '[payment_hash] [timeout]',
        description:
          'Wait up to timeout seconds (default 60) for the message (without payment_hash: the next one)',
      },
      (p) => receiveMessageWait(rx(), p),
    )
    .method(
      'receivemessage_list',
      {
        usage: '[index] [start] [limit]',
        description:
          'Messages received by created (default) or updated index, from start, at most limit (100)',
      },
      (p) => receiveMessageList(rx(), p),
    )
    .method(
      'receivemessage_accept',
      { usage: 'payment_hash', description: 'Settle a held message payment' },
      (p) => receiveMessageAccept(rx(), p),
    )
    .method(
      'receivemessage_reject',
      {
        usage: 'payment_hash [reason]',
        description: 'Refuse a held message payment: the payer gets the money back',
      },
      (p) => receiveMessageReject(rx(), p),
    )
    .method(
      'receivemessage_delete',
      { usage: 'payment_hash', description: 'Delete a stored message and its payment hash' },
      (p) => receiveMessageDelete(rx(), p),
    );
  captureConsole(plugin);
  return plugin;
}

function notReady(): never {
  throw new MethodError(-32603, 'lnmsg is not initialised yet');
}

/** The payee, over lightningd's datastore; announces each message stored as `lnmsg_received`. */
async function startReceiver(ctx: PluginContext): Promise<Receiver> {
  const { id } = await ctx.rpc.call<{ id: string }>('getinfo');
  const r = new Receiver(
    new MessageStore(new DatastoreKv(ctx.rpc)),
    receiverConfig(ctx.options, fromHex(id)),
    (level, message) => ctx.log(level, message),
    Date.now,
    new NodeInvoices(ctx.rpc),
  );
  // Only a node start replays HTLCs; after `plugin start` none will come back.
  await r.open(ctx.startup ? REPLAY_GRACE_MS : 0);
  if (!ctx.startup) ctx.log('unusual', DYNAMIC_START_WARNING);
  r.sweepEvery(SWEEP_EVERY_MS, (n) => ctx.log('info', `removed ${n} expired payment hashes`));
  r.onMessage((m) => ctx.notify('lnmsg_received', messageView(m)));
  return r;
}
