import { messageLine } from './receive.js';
import { escapeUntrusted } from './safe-text.js';

/** An entry of `sendmessage_list`: what the CLI prints of it. */
export interface SentView {
  payment_hash: string;
  destination: string;
  amount_msat: number;
  fee_msat?: number;
  parts?: number;
  status: string;
  error?: { code: number; message: string };
  message: string;
  message_hex: string;
  message_bytes: number;
  is_text: boolean;
  spontaneous: boolean;
  description?: string;
  created_at: number;
  created_index: number;
}

/**
 * One block per message sent: when and to whom, the hash, how it went, the error, the message.
 * Each line is escaped whole, as in the inbox: the message is ours, but an error can quote what
 * the payee or a node on the way wrote.
 */
export function formatSent(e: SentView, full = true): string {
  const outcome =
    e.status === 'complete'
      ? ` + ${e.fee_msat} msat fee, ${e.parts} ${e.parts === 1 ? 'part' : 'parts'}`
      : '';
  const lines = [
    `${new Date(e.created_at * 1000).toISOString()} to ${e.destination}${e.spontaneous ? ' (keysend)' : ''}`,
    `payment hash: ${e.payment_hash}`,
    ...(e.description === undefined ? [] : [`invoice: ${e.description}`]),
    `${e.status}: ${e.amount_msat} msat${outcome}`,
  ];
  if (e.error) lines.push(`error ${e.error.code}: ${e.error.message}`);
  lines.push(messageLine(e, full));
  return `${lines.map(escapeUntrusted).join('\n')}\n`;
}
