import { CONTINUE } from './cln/hook-types.js';
import { param } from './cln/params.js';
import { captureConsole, INVALID_PARAMS, MethodError, Plugin, type PluginContext } from './cln/plugin.js';
import { DEFAULT_MESSAGE_TLV_TYPE } from './onion/capacity.js';
import { commandDecider, deciderUrlProblem, urlDecider } from './receive/decider.js';
import { messageView } from './receive/format.js';
import { htlcAccepted } from './receive/hook.js';
import { type Decision, RECEIVER_DEFAULTS, Receiver } from './receive/receiver.js';
import { sendMessage } from './send/message.js';
import { SendError, Sender } from './send/sender.js';
import { DatastoreKv } from './store/kv.js';
import { MessageStore } from './store/messages.js';
import { fromHex, utf8 } from './wire/bytes.js';
import { CUSTOM_RECORD_MIN } from './wire/hop-payload.js';
import { RESERVED_RECORDS } from './wire/message-records.js';

/** Error codes of lnmsg's RPC methods (documented in the README). */
export const LNMSG_ERRORS = { refused: 1601, 'no-route': 1602, 'too-large': 1603, timeout: 1604 };

export function tlvTypeProblem(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    return `lnmsg-tlv-type must be a whole number, got ${value}`;
  const t = BigInt(value);
  if (t < CUSTOM_RECORD_MIN) return `lnmsg-tlv-type ${t} is below 65536: BOLT 4 reserves those types`;
  if (RESERVED_RECORDS.has(t))
    return `lnmsg-tlv-type ${t} is reserved (keysend preimage, a chat record or lnmsg's chunk record)`;
  return undefined;
}

function wholeNumber(name: string, value: unknown): string | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
    ? undefined
    : `${name} must be a whole number >= 0, got ${value}`;
}

/** What `sendmessage` is doing, for `sendmessage_status` (the CLI's progress bar). */
const progress = new Map<string, { sent: number; parts: number }>();

/** lnmsg as a Core Lightning plugin: options, RPC methods and the htlc_accepted hook. */
export function lnmsgPlugin(): Plugin {
  let receiver: Receiver | undefined;
  let sender: Sender | undefined;
  const ready = () => {
    if (!receiver || !sender) throw new MethodError(-32603, 'lnmsg is not initialised yet');
    return { receiver, sender };
  };

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
    .notification('lnmsg_received')
    .onInit(async (ctx) => {
      const o = ctx.options;
      const url = o['lnmsg-decide-url'] as string;
      const command = o['lnmsg-decide-command'] as string;
      const problem =
        tlvTypeProblem(o['lnmsg-tlv-type']) ??
        wholeNumber('lnmsg-max-message-bytes', o['lnmsg-max-message-bytes']) ??
        wholeNumber('lnmsg-min-amount-msat', o['lnmsg-min-amount-msat']) ??
        (url ? deciderUrlProblem(url) : undefined) ??
        (url && command ? 'set lnmsg-decide-command or lnmsg-decide-url, not both' : undefined);
      if (problem) return problem;
      const limits = { timeoutMs: RECEIVER_DEFAULTS.holdTimeoutSeconds * 1000, concurrency: 4 };
      const { id } = await ctx.rpc.call<{ id: string }>('getinfo');
      const r = new Receiver(
        new MessageStore(new DatastoreKv(ctx.rpc)),
        {
          ...RECEIVER_DEFAULTS,
          nodeId: fromHex(id),
          tlvType: BigInt(o['lnmsg-tlv-type'] as number),
          maxMessageBytes: o['lnmsg-max-message-bytes'] as number,
          minAmountMsat: o['lnmsg-min-amount-msat'] as number,
          decider: command ? commandDecider(command, limits) : url ? urlDecider(url, limits) : undefined,
        },
        (level, message) => ctx.log(level, message),
      );
      await r.load();
      r.onMessage((m) => ctx.notify('lnmsg_received', messageView(m)));
      receiver = r;
      sender = new Sender(ctx.rpc, (m) => ctx.log('info', m));
      return undefined;
    })
    // Before lightningd's keysend plugin, which strips unknown even records (OBSERVED.md).
    .hook('htlc_accepted', { before: ['keysend'], fallback: CONTINUE }, (payload) =>
      htlcAccepted(receiver, payload),
    )
    .method(
      'sendmessage',
      {
        usage: 'destination payment_hash msatoshi message [retry_for] [maxfee_msat] [sign] [max_parts]',
        description:
          'Pay payment_hash at destination with a message in the final hop payload (keysend without payment_hash)',
      },
      (p, ctx) => sendMessageMethod(p, ctx, ready().sender),
    )
    .method(
      'sendmessage_status',
      { usage: 'payment_hash', description: 'HTLCs sent so far for a sendmessage in progress' },
      (p) => progress.get(param.hash(p, 'payment_hash')) ?? null,
    )
    .method(
      'receivemessage_new',
      { usage: '[amount_msat] [label] [hold]', description: 'A new payment hash to receive a message on' },
      async (p) => {
        const inv = await ready().receiver.newInvoice({
          amountMsat: param.msat(p, 'amount_msat', { fallback: 0 }),
          label: param.optionalString(p, 'label'),
          hold: param.bool(p, 'hold'),
        });
        return inv.paymentHash;
      },
    )
    .method(
      'receivemessage_poll',
      {
        usage: 'payment_hash',
        description: 'null until the message for payment_hash arrived, then {amount, message}',
      },
      async (p) => {
        const m = await ready().receiver.message(param.hash(p, 'payment_hash'));
        return m ? messageView(m) : null;
      },
    )
    .method(
      'receivemessage_wait',
      {
        usage: '[payment_hash] [timeout]',
        description:
          'Wait up to timeout seconds (default 60) for the message (without payment_hash: the next one)',
      },
      async (p) => {
        const { receiver } = ready();
        const timeoutMs = param.seconds(p, 'timeout', 60) * 1000;
        if (p.payment_hash === undefined || p.payment_hash === null) {
          const m = await receiver.wait('any', timeoutMs);
          return m ? messageView(m) : null;
        }
        const hash = param.hash(p, 'payment_hash');
        if (!receiver.isOurs(hash))
          throw new MethodError(INVALID_PARAMS, `payment_hash ${hash} was not made by lnmsg`);
        const m = await receiver.wait(hash, timeoutMs);
        return m ? messageView(m) : null;
      },
    )
    .method(
      'receivemessage_list',
      { usage: '', description: 'Every message received, oldest first' },
      async () => ({
        messages: (await ready().receiver.messages()).map(messageView),
      }),
    )
    .method(
      'receivemessage_accept',
      { usage: 'payment_hash', description: 'Settle a held message payment' },
      (p) => decide(ready().receiver, param.hash(p, 'payment_hash'), { accept: true }),
    )
    .method(
      'receivemessage_reject',
      {
        usage: 'payment_hash [reason]',
        description: 'Refuse a held message payment: the payer gets the money back',
      },
      (p) =>
        decide(ready().receiver, param.hash(p, 'payment_hash'), {
          accept: false,
          reason: param.optionalString(p, 'reason') ?? 'rejected by the payee',
        }),
    );
  captureConsole(plugin);
  return plugin;
}

function decide(receiver: Receiver, hash: string, d: Decision) {
  if (!receiver.decide(hash, d))
    throw new MethodError(INVALID_PARAMS, `nothing is held for payment_hash ${hash}`);
  return { payment_hash: hash, status: d.accept ? 'settled' : 'rejected' };
}

function messageBytes(p: Record<string, unknown>): Uint8Array {
  if (typeof p.message_hex === 'string') {
    try {
      return fromHex(p.message_hex, 'message_hex');
    } catch {
      throw new MethodError(INVALID_PARAMS, 'message_hex: must be an even number of hex digits');
    }
  }
  if (typeof p.message !== 'string') {
    throw new MethodError(
      INVALID_PARAMS,
      `message: must be a string (or give message_hex), got ${JSON.stringify(p.message)}`,
    );
  }
  return utf8.encode(p.message);
}

async function sendMessageMethod(p: Record<string, unknown>, ctx: PluginContext, sender: Sender) {
  const destination = param.pubkey(p, 'destination');
  const paymentHash =
    p.payment_hash === undefined || p.payment_hash === null ? undefined : param.hash(p, 'payment_hash');
  const amountMsat = param.msat(p, p.amount_msat !== undefined ? 'amount_msat' : 'msatoshi', { min: 1 });
  const message = messageBytes(p);
  const maxParts = param.count(p, 'max_parts', { min: 1, fallback: 128 });
  const key = paymentHash ?? '';
  try {
    const r = await sendMessage(ctx.rpc, sender, {
      destination,
      paymentHash,
      amountMsat,
      message,
      tlvType: BigInt(ctx.options['lnmsg-tlv-type'] as number),
      sign: param.bool(p, 'sign'),
      retryForSeconds: param.seconds(p, 'retry_for', 60),
      maxFeeMsat: param.msat(p, 'maxfee_msat', { fallback: Math.max(5000, Math.ceil(amountMsat / 100)) }),
      maxParts,
      onProgress: (sent, parts) => progress.set(key, { sent, parts }),
    });
    const last = r.parts.at(-1);
    return {
      send: last?.send,
      wait: last?.wait,
      status: 'complete',
      payment_hash: r.paymentHash,
      payment_preimage: r.paymentPreimage,
      spontaneous: r.spontaneous,
      destination,
      amount_msat: amountMsat,
      amount_sent_msat: r.amountSentMsat,
      fee_msat: r.feeMsat,
      parts: r.parts.length,
      paths: new Set(r.parts.map((part) => part.path.map((h) => h.short_channel_id_dir).join())).size,
      attempts: r.parts.reduce((n, part) => n + part.attempts, 0),
      method: last?.method,
      message_bytes: message.length,
      route: (last?.path ?? []).map((h) => ({
        short_channel_id_dir: h.short_channel_id_dir,
        node_id: h.node_id_out,
        amount_msat: h.amount_out_msat,
      })),
      failures: r.parts.flatMap((part) => part.failures),
    };
  } catch (e) {
    if (e instanceof SendError)
      throw new MethodError(LNMSG_ERRORS[e.kind], e.message, { failures: e.failures });
    throw e;
  } finally {
    progress.delete(key);
  }
}
