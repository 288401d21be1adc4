import { setTimeout as sleep } from 'node:timers/promises';
import * as prompts from '@clack/prompts';
import { msatProblem, msatValue } from '../cln/params.js';
import type { NodeConnection } from './connection.js';
import { CliError, EXIT } from './exit.js';
import { checked } from './input.js';
import { escapeUntrusted } from './safe-text.js';

export interface MessageView {
  amount: number;
  message: string;
  message_hex: string;
  is_text: boolean;
  payment_hash: string;
  message_bytes: number;
  status: string;
  spontaneous: boolean;
  received_at: number;
  created_index: number;
  sender?: string;
  verified?: boolean;
  label?: string;
  reject_reason?: string;
  kind?: string;
  records_only?: boolean;
  records?: { type: string; value: string }[];
  boostagram?: Record<string, unknown>;
  tip_note?: string;
  sender_name?: string;
  record_problems?: { type: string; why: string }[];
}

const KINDS: Record<string, string> = {
  invoice: 'on an invoice',
  keysend: 'spontaneous',
  hash: 'to a payment hash',
};

export interface ReceiveFlags {
  amountMsat?: string;
  label?: string;
  description?: string;
  timeout?: string;
  hold?: boolean;
  /** The seed's flow: a bare payment hash, no invoice (no payment secret). */
  hashOnly?: boolean;
}

/** One long-poll at a time: lightningd keeps the call open, so nothing busy-waits. */
const WAIT_SLICE_SECONDS = 60;

/** What the payer needs: an invoice, or (the seed's flow) the node id and a bare payment hash. */
export type PayTo =
  | { bolt11: string; payment_hash: string; expires_at: number }
  | { payment_hash: string; destination: string };

export async function newPayTo(node: NodeConnection, f: ReceiveFlags): Promise<PayTo> {
  const amountMsat =
    f.amountMsat === undefined
      ? undefined
      : msatValue(checked('--amount-msat', f.amountMsat, msatProblem(f.amountMsat)));
  const params = {
    ...(amountMsat === undefined ? {} : { amount_msat: amountMsat }),
    ...(f.label === undefined ? {} : { label: f.label }),
    ...(f.hold ? { hold: true } : {}),
  };
  if (!f.hashOnly) {
    const inv = await node.call<{ bolt11: string; payment_hash: string; expires_at: number }>(
      'receivemessage_invoice',
      { ...params, ...(f.description === undefined ? {} : { description: f.description }) },
    );
    return { bolt11: inv.bolt11, payment_hash: inv.payment_hash, expires_at: inv.expires_at };
  }
  const paymentHash = await node.call<string>('receivemessage_new', params);
  const { id } = await node.call<{ id: string }>('getinfo');
  return { payment_hash: paymentHash, destination: id };
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
    // The message is stored by its hash: asking again after a lightningd restart finds it.
    const m = await node.rideOut(
      () =>
        node.call<MessageView | null>('receivemessage_wait', {
          payment_hash: paymentHash,
          timeout: Math.min(left, WAIT_SLICE_SECONDS),
        }),
      until,
    );
    if (m) return m;
  }
}

/** What became of a held message: decided here, left held, or decided elsewhere (with why, if refused). */
export interface Decided {
  status: string;
  elsewhere?: boolean;
  reason?: string;
}

/** How often the open prompt looks for a decision made elsewhere (another shell, the deadline). */
const DECIDED_ELSEWHERE_POLL_MS = 1000;

/**
 * For --hold: the payee decides on a terminal; without one, it prints how to decide later. While
 * the question is open the message is watched, and a decision made elsewhere closes it.
 */
export async function decide(node: NodeConnection, m: MessageView): Promise<Decided> {
  if (!process.stdin.isTTY) return { status: 'held' };
  const closed = new AbortController();
  let elsewhere: MessageView | undefined;
  const watching = (async () => {
    while (!closed.signal.aborted) {
      await sleep(DECIDED_ELSEWHERE_POLL_MS, undefined, { signal: closed.signal }).catch(() => undefined);
      if (closed.signal.aborted) return;
      const now = await node
        .call<MessageView | null>('receivemessage_poll', { payment_hash: m.payment_hash })
        .catch(() => null); // lightningd away for a moment: look again next time
      if (now && now.status !== 'held') {
        elsewhere = now;
        closed.abort();
      }
    }
  })();
  const ok = await prompts.confirm({
    message: 'Settle this payment (no = refuse it, the payer gets the money back)?',
    signal: closed.signal,
  });
  closed.abort();
  await watching;
  if (elsewhere) return { status: elsewhere.status, elsewhere: true, reason: elsewhere.reject_reason };
  if (prompts.isCancel(ok)) return { status: 'held' };
  const r = await node.call<{ status: string }>(ok ? 'receivemessage_accept' : 'receivemessage_reject', {
    payment_hash: m.payment_hash,
  });
  return { status: r.status };
}

/** Messages longer than this many characters (hex digits for binary) are cut in inbox and watch. */
export const SHOWN_CHARS = 500;

/** The first SHOWN_CHARS characters (never half a character) and how to see all, unless `full`. */
function shortened(text: string, bytes: number, full: boolean): string {
  const chars = [...text];
  if (full || chars.length <= SHOWN_CHARS) return text;
  return `${chars.slice(0, SHOWN_CHARS).join('')}… (${bytes} bytes; --full to show all)`;
}

/**
 * Each line is escaped whole: our own text in it holds no backslash or control character, so only
 * what the sender (or the node) wrote is escaped, and no field can end a line or forge another.
 */
export function formatMessage(m: MessageView, full = true): string {
  const kind = KINDS[m.kind ?? ''] ?? (m.spontaneous ? 'spontaneous' : undefined);
  const lines = [
    `received ${m.amount} msat (${[m.status, kind, m.records_only ? 'records only' : undefined].filter(Boolean).join(', ')})`,
    messageLine(m, full),
  ];
  if (m.label !== undefined) lines.push(`label: ${m.label}`);
  if (m.sender_name !== undefined) lines.push(`sender name (unverified): ${m.sender_name}`);
  for (const [k, v] of Object.entries(m.boostagram ?? {}))
    lines.push(`boostagram ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (m.tip_note !== undefined) lines.push(`tip note: ${m.tip_note}`);
  for (const p of m.record_problems ?? []) lines.push(`record ${p.type} not read: ${p.why}`);
  if ((m.records?.length ?? 0) > 0)
    lines.push(
      `records: ${(m.records ?? []).map((r) => `${r.type} (${r.value.length / 2} bytes)`).join(', ')}`,
    );
  if (m.sender) lines.push(`sender: ${m.sender} (${m.verified ? 'verified' : 'NOT verified'})`);
  if (m.reject_reason !== undefined) lines.push(`reason: ${m.reject_reason}`);
  return lines.map(escapeUntrusted).join('\n');
}

/** The message as text, or as hex when it is not UTF-8 (not escaped yet); long ones cut unless `full`. */
export function messageLine(
  m: Pick<MessageView, 'is_text' | 'message' | 'message_hex' | 'message_bytes'>,
  full = true,
): string {
  return m.is_text
    ? `message: ${shortened(m.message, m.message_bytes, full)}`
    : `message (hex, ${m.message_bytes} bytes): ${shortened(m.message_hex, m.message_bytes, full)}`;
}
