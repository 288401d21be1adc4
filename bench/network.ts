/**
 * Real-network figures (needs CLN_BIN): three lightningd nodes in a line on simchain, lnmsg loaded
 * on each. lnmsg and Core Lightning's own xkeysend carry the same bytes over the same nodes.
 */
import { randomBytes } from 'node:crypto';
import { maxMessageBytes } from '../src/index.js';
import { Network, PLUGIN } from '../e2e/support/network.js';
import { fmt, int, median, msSince, quantile } from './stats.js';

const ROUNDS = Number(process.env.LNMSG_BENCH_ROUNDS ?? 100);
const FORWARDS = Number(process.env.LNMSG_BENCH_FORWARDS ?? 200);
const MESSAGE = randomBytes(256).toString('hex');

/** Latencies of `send` run `ROUNDS` times back to back, after one warm-up call. */
async function rounds(
  send: (i: number) => Promise<unknown>,
): Promise<{ times: number[]; perSecond: number }> {
  await send(-1); // warm-up: routes, connections and JIT
  const times: number[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) {
    const t = process.hrtime.bigint();
    await send(i);
    times.push(msSince(t));
  }
  return { times, perSecond: ROUNDS / (msSince(t0) / 1000) };
}

/** Plain keysend payments through the middle node, 4 in flight at a time: payments per second. */
async function forwardingRate(net: Network, payee: string): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next++ < FORWARDS) await net.coreKeysend(1, { destination: payee, amount_msat: 1000 });
    }),
  );
  return FORWARDS / (msSince(t0) / 1000);
}

async function pluginOnMiddle(net: Network, subcommand: 'start' | 'stop'): Promise<void> {
  await net.call(2, 'plugin', { subcommand, plugin: PLUGIN });
}

export async function networkFigures(): Promise<[string, string][]> {
  const net = await Network.start(3);
  try {
    const payee = await net.id(3);
    const hashes: string[] = [];
    for (let i = 0; i <= ROUNDS; i++) hashes.push(await net.call<string>(3, 'receivemessage_new'));
    const withHash = await rounds((i) =>
      net.call(1, 'sendmessage', {
        destination: payee,
        payment_hash: hashes[i + 1],
        amount_msat: 1000,
        message_hex: MESSAGE,
        sign: false,
      }),
    );
    const spontaneous = await rounds(() =>
      net.call(1, 'sendmessage', {
        destination: payee,
        amount_msat: 1000,
        message_hex: MESSAGE,
        sign: false,
      }),
    );
    const xkeysend = await rounds(() =>
      net.coreKeysend(1, { destination: payee, amount_msat: 1000, extratlvs: { '34349334': MESSAGE } }),
    );

    const forwardWith = await forwardingRate(net, payee);
    await pluginOnMiddle(net, 'stop');
    const forwardWithout = await forwardingRate(net, payee);
    await pluginOnMiddle(net, 'start');

    const rows: [string, string][] = [];
    const latency = (what: string, r: { times: number[]; perSecond: number }) =>
      rows.push([
        what,
        `median ${fmt(median(r.times), 1)}, p95 ${fmt(quantile(r.times, 0.95), 1)}, ${r.perSecond.toFixed(1)} msgs/s`,
      ]);
    latency(`lnmsg sendmessage, payee's hash (${ROUNDS} x 256 B, 2 channels)`, withHash);
    latency(`lnmsg sendmessage, spontaneous (${ROUNDS} x 256 B)`, spontaneous);
    latency(`xkeysend extratlvs 34349334 (${ROUNDS} x 256 B)`, xkeysend);
    rows.push([
      'lnmsg latency / xkeysend latency (medians)',
      `${(median(withHash.times) / median(xkeysend.times)).toFixed(2)}x with hash, ${(median(spontaneous.times) / median(xkeysend.times)).toFixed(2)}x spontaneous`,
    ]);
    rows.push([
      `middle node forwarding, ${FORWARDS} keysends, 4 in flight`,
      `${forwardWith.toFixed(1)}/s with lnmsg, ${forwardWithout.toFixed(1)}/s without (${(forwardWith / forwardWithout).toFixed(3)}x)`,
    ]);

    // One HTLC carries at most maxMessageBytes(2 hops) in the plain record: the floor for HTLC counts.
    const { blockheight } = await net.call<{ blockheight: number }>(1, 'getinfo');
    const perHtlc = maxMessageBytes(2, { amountMsat: 100_000n, blockheight });
    for (const size of [1024, 16 * 1024, 64 * 1024]) {
      const hash = await net.call<string>(3, 'receivemessage_new', { amount_msat: 100_000 });
      const t = process.hrtime.bigint();
      const sent = await net.call<{ parts: number }>(1, 'sendmessage', {
        destination: payee,
        payment_hash: hash,
        amount_msat: 100_000,
        message_hex: randomBytes(size).toString('hex'),
        sign: false,
      });
      const ms = msSince(t);
      rows.push([
        `send ${size / 1024} KiB end to end (2 channels)`,
        `${fmt(ms, 0)}, ${sent.parts} HTLCs (minimum ${int(Math.ceil(size / perHtlc))} at ${perHtlc} B/HTLC)`,
      ]);
    }
    return rows;
  } finally {
    await net.stop();
  }
}
