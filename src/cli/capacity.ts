import { maxMessageBytes } from '../onion/capacity.js';

export interface CapacityRow {
  hops: number;
  maxMessageBytes: number;
}

export function capacityTable(opts: {
  amountMsat: bigint;
  blockheight: number;
  tlvType: bigint;
  senderHop: boolean;
}) {
  const rows: CapacityRow[] = [];
  for (let hops = 1; hops <= 20; hops++)
    rows.push({ hops, maxMessageBytes: Math.max(0, maxMessageBytes(hops, opts)) });
  return rows;
}

export function formatCapacity(
  rows: CapacityRow[],
  opts: { amountMsat: bigint; blockheight: number; senderHop: boolean },
): string {
  const lines = [
    `Largest message in one HTLC (amount ${opts.amountMsat} msat, CLTV values near ${opts.blockheight},`,
    `${opts.senderHop ? "onion includes the sender's own hop, as injectpaymentonion (xkeysend, xpay) needs" : 'first hop outside the onion, as lnmsg sends with sendonion'}):`,
    '',
    'hops  max message bytes',
    ...rows.map((r) => `${String(r.hops).padStart(4)}  ${String(r.maxMessageBytes).padStart(17)}`),
  ];
  return lines.join('\n');
}
