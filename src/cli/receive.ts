import * as prompts from '@clack/prompts';
import type { NodeConnection } from './connection.js';
import { CliError, EXIT } from './exit.js';
import { escapeUntrusted } from './safe-text.js';

export interface MessageView {
  amount: number;
  message: string;
  message_hex: string;
  is_text: boolean;
  payment_hash: string;
  status: string;
  received_at: number;
  created_index: number;
  sender?: string;
  verified?: boolean;
  label?: string;
  reject_reason?: string;
}

export interface ReceiveFlags {
  amountMsat?: string;
  label?: string;
  timeout?: string;
  hold?: boolean;
}

/** One long-poll at a time: lightningd keeps the call open, so nothing busy-waits. */
const WAIT_SLICE_SECONDS = 60;

export async function newPaymentHash(
  node: NodeConnection,
  f: ReceiveFlags,
): Promise<{ paymentHash: string; nodeId: string }> {
  if (f.amountMsat !== undefined && !/^\d+$/.test(f.amountMsat)) {
    throw new CliError(`--amount-msat ${JSON.stringify(f.amountMsat)}: a whole number of msat`, EXIT.usage);
  }
  const paymentHash = await node.call<string>('receivemessage_new', {
    ...(f.amountMsat === undefined ? {} : { amount_msat: Number(f.amountMsat) }),
    ...(f.label === undefined ? {} : { label: f.label }),
    ...(f.hold ? { hold: true } : {}),
  });
  const { id } = await node.call<{ id: string }>('getinfo');
  return { paymentHash, nodeId: id };
}

/** Waits for the message, `timeoutSeconds` in all (0: for ever). */
export async function waitForMessage(
  node: NodeConnection,
  paymentHash: string,
  timeoutSeconds: number,
): Promise<MessageView> {
  const until = timeoutSeconds > 0 ? Date.now() + timeoutSeconds * 1000 : Number.POSITIVE_INFINITY;
  for (;;) {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0)
      throw new CliError(`no message for ${paymentHash} within ${timeoutSeconds}s`, EXIT.timeout);
    const m = await node.call<MessageView | null>('receivemessage_wait', {
      payment_hash: paymentHash,
      timeout: Math.min(left, WAIT_SLICE_SECONDS),
    });
    if (m) return m;
  }
}

/** For --hold: the payee decides on a terminal; without one, it prints how to decide later. */
export async function decide(node: NodeConnection, m: MessageView): Promise<string> {
  if (!process.stdin.isTTY) return 'held';
  const ok = await prompts.confirm({
    message: 'Settle this payment (no = refuse it, the payer gets the money back)?',
  });
  if (prompts.isCancel(ok)) return 'held';
  const r = await node.call<{ status: string }>(ok ? 'receivemessage_accept' : 'receivemessage_reject', {
    payment_hash: m.payment_hash,
  });
  return r.status;
}

/**
 * Each line is escaped whole: our own text in it holds no backslash or control character, so only
 * what the sender (or the node) wrote is escaped, and no field can end a line or forge another.
 */
export function formatMessage(m: MessageView): string {
  const lines = [`received ${m.amount} msat (${m.status})`, messageLine(m)];
  if (m.label !== undefined) lines.push(`label: ${m.label}`);
  if (m.sender) lines.push(`sender: ${m.sender} (${m.verified ? 'verified' : 'NOT verified'})`);
  if (m.reject_reason !== undefined) lines.push(`reason: ${m.reject_reason}`);
  return lines.map(escapeUntrusted).join('\n');
}

/** The message as text, or as hex when it is not UTF-8 (not escaped yet). */
export function messageLine(m: Pick<MessageView, 'is_text' | 'message' | 'message_hex'>): string {
  return m.is_text
    ? `message: ${m.message}`
    : `message (hex, ${m.message_hex.length / 2} bytes): ${m.message_hex}`;
}
