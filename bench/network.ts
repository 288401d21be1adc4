/**
 * Real-network figures (needs CLN_BIN): four lightningd nodes in a line on simchain, lnmsg loaded
 * on each, node 4 the payee (node 3 is 1 hop from it, node 2 two, node 1 three). lnmsg and Core
 * Lightning's own xkeysend carry the same bytes over the same nodes in the same run.
 */
import { randomBytes } from 'node:crypto';
import { RpcError } from '../src/cln/rpc.js';
import { DEFAULT_MESSAGE_TLV_TYPE, maxMessageBytes } from '../src/index.js';
import { Network, PLUGIN } from '../e2e/support/network.js';
import { fmt, median, msSince, quantile } from './stats.js';
import type { Table } from './table.js';

const ROUNDS = Number(process.env.LNMSG_BENCH_ROUNDS ?? 200);
const FORWARDS = Number(process.env.LNMSG_BENCH_FORWARDS ?? 200);
const WARM_UP = 3;
/**
 * Between measured sends, unmeasured: the previous send's after-work (lnmsg's outbox entry,
 * lightningd's own records) is done, so no send is timed with another's work in its way.
 */
const PAUSE_MS = 200;
const pause = () => new Promise((r) => setTimeout(r, PAUSE_MS));
const SENDERS = 4;
/** Messages each sender sends in one throughput block; lnmsg's and xkeysend's blocks alternate. */
const BLOCK = 5;
/** Throughput blocks per way: twice the latency rounds' messages, as a block's figure varies more than a send's. */
const BLOCKS = Math.max(1, Math.round((2 * ROUNDS) / SENDERS / BLOCK));
const PAYEE = 4;
/** msat. With fees (1000-1002) every hop's amount is 2 bytes wide, as its CLTV (< 256 here) is 1. */
const AMOUNT = 1000;
/** What a large message pays in all; each part pays its share. */
const LARGE_AMOUNT = 100_000;
/** The CLTV delta lnmsg gives the payee's hop. */
const FINAL_CLTV = 18;
const RECORD = String(DEFAULT_MESSAGE_TLV_TYPE);
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const MESSAGE = hex(256);

interface Bench {
  net: Network;
  payee: string;
}

const newHash = (b: Bench, amount_msat = AMOUNT) =>
  b.net.call<string>(PAYEE, 'receivemessage_new', { amount_msat });

const sendmessage = (b: Bench, from: number, params: Record<string, unknown>) =>
  b.net.call<{ parts: number }>(from, 'sendmessage', {
    destination: b.payee,
    amount_msat: AMOUNT,
    sign: false,
    ...params,
  });

const xkeysend = (b: Bench, from: number, messageHex: string) =>
  b.net.coreKeysend(from, { destination: b.payee, amount_msat: AMOUNT, extratlvs: { [RECORD]: messageHex } });

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

/**
 * The largest message lnmsg delivers in one HTLC from `from`, found by sending: from the computed
 * limit, down while sendmessage refuses it (1603, checked on the real route), else up until it does.
 */
async function lnmsgLargest(b: Bench, from: number, computed: number): Promise<number> {
  const fits = async (bytes: number) => {
    const payment_hash = await newHash(b);
    return sendmessage(b, from, { payment_hash, message_hex: hex(bytes), max_parts: 1 }).then(
      () => true,
      (e: unknown) => {
        if (e instanceof RpcError && e.code === 1603) return false;
        throw e;
      },
    );
  };
  let n = computed;
  if (await fits(n)) while (await fits(n + 1)) n++;
  else while (!(await fits(--n)));
  return n;
}

/**
 * The largest extratlvs message xkeysend delivers from `from`: a binary search of real payments.
 * Nothing past the BOLT 4 limit can fit; any error counts as "does not fit" (lightningd refuses
 * too large an onion before sending: "Could not create payment onion: path too long!").
 */
async function xkeysendLargest(b: Bench, from: number, bolt4: number): Promise<number> {
  let fits = -1;
  let fails = bolt4 + 1;
  while (fails - fits > 1) {
    const mid = Math.floor((fits + fails) / 2);
    if (
      await xkeysend(b, from, hex(mid)).then(
        () => true,
        () => false,
      )
    )
      fits = mid;
    else fails = mid;
  }
  return fits;
}

/** Group 1: bytes one HTLC carries over 1, 2 and 3 hops; returns lnmsg's figures by hop count too. */
async function bytesPerHtlc(b: Bench): Promise<{ table: Omit<Table, 'title'>; lnmsg: Map<number, number> }> {
  const { blockheight } = await b.net.call<{ blockheight: number }>(PAYEE, 'getinfo');
  const widths = { amountMsat: BigInt(AMOUNT), blockheight: blockheight + FINAL_CLTV };
  const lnmsg = new Map<number, number>();
  const rows: string[][] = [];
  for (const hops of [1, 2, 3]) {
    const from = PAYEE - hops;
    const bolt4 = maxMessageBytes(hops, widths);
    lnmsg.set(hops, await lnmsgLargest(b, from, bolt4));
    const core = await xkeysendLargest(b, from, bolt4);
    rows.push([`${hops} (node ${from} → node ${PAYEE})`, `${lnmsg.get(hops)}`, `${core}`, `${bolt4}`]);
  }
  return {
    table: {
      head: [
        'hops',
        'lnmsg sendmessage, max_parts 1, sign false',
        `xkeysend, extratlvs ${RECORD}`,
        'BOLT 4 limit, sender hop outside the onion',
      ],
      rows,
      note:
        `Message bytes delivered in one HTLC of ${AMOUNT} msat. lnmsg: found by sending, one byte more refused ` +
        `with error 1603. xkeysend: the largest that arrived, by binary search over real payments; its onion ` +
        `also holds the sender's own hop and the keysend preimage. BOLT 4: maxMessageBytes(hops, ` +
        `{ amountMsat: ${AMOUNT}n, blockheight: ${widths.blockheight} }), the amount and final CLTV these payloads carry.`,
    },
    lnmsg,
  };
}

/** Group 2: HTLCs a large message takes node 2 → node 4, against what lnmsg's single HTLC carries. */
async function largeMessages(b: Bench, perHtlc: number): Promise<Omit<Table, 'title'>> {
  const rows: string[][] = [];
  for (const kib of [16, 64]) {
    const size = kib * 1024;
    const payment_hash = await newHash(b, LARGE_AMOUNT);
    const t = process.hrtime.bigint();
    const sent = await sendmessage(b, 2, { payment_hash, amount_msat: LARGE_AMOUNT, message_hex: hex(size) });
    rows.push([
      `${kib} KiB`,
      `${sent.parts} HTLCs (minimum ${Math.ceil(size / perHtlc)})`,
      fmt(msSince(t), 0),
    ]);
  }
  return {
    head: ['message, node 2 → node 4 (2 channels)', 'HTLCs used', 'end to end'],
    rows,
    note:
      `Minimum: the size over lnmsg's largest 2-hop single-HTLC message above (${perHtlc} bytes); ` +
      `each part also carries a piece record (token, offset, length) and the payment's total. ` +
      `${LARGE_AMOUNT} msat in all.`,
  };
}

/** A way of sending, and what ends its after-work, for throughput: it counts as part of the sends. */
interface Way {
  send: () => Promise<unknown>;
  settle?: () => Promise<unknown>;
}

/**
 * Latency of each of `ways`, one send at a time with a pause between: `ROUNDS` rounds sending
 * once with each, the first one rotating, so machine load drifting over the run hits them all alike.
 */
async function latencies(ways: Way[]): Promise<number[][]> {
  for (const way of ways) for (let i = 0; i < WARM_UP; i++) await way.send();
  const times = ways.map((): number[] => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < ways.length; k++) {
      const s = (round + k) % ways.length;
      await pause();
      const t = process.hrtime.bigint();
      await (ways[s] as Way).send();
      (times[s] as number[]).push(msSince(t));
    }
  }
  return times;
}

/**
 * Messages per second of `SENDERS` loops sending at once, in blocks alternating between `ways`; a
 * block ends when its after-work does (`settle`), and the next starts after a pause.
 */
async function throughputs(ways: Way[]): Promise<number[]> {
  const spent = ways.map(() => 0);
  for (let block = 0; block < BLOCKS; block++) {
    for (let k = 0; k < ways.length; k++) {
      const s = (block + k) % ways.length;
      const way = ways[s] as Way;
      await pause();
      const t = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: SENDERS }, async () => {
          for (let i = 0; i < BLOCK; i++) await way.send();
        }),
      );
      await way.settle?.();
      spent[s] = (spent[s] as number) + msSince(t);
    }
  }
  return spent.map((ms) => (BLOCKS * BLOCK * SENDERS) / (ms / 1000));
}

/** Group 3: 256-byte messages node 2 → node 4, lnmsg against xkeysend with the same bytes. */
async function latencyAndThroughput(b: Bench): Promise<Omit<Table, 'title'>> {
  // Made beforehand: a payee's hash is not part of what a send costs.
  const hashes: string[] = [];
  while (hashes.length < WARM_UP + ROUNDS + BLOCKS * BLOCK * SENDERS) hashes.push(await newHash(b));
  // sendmessage_list answers once lnmsg's outbox writes are made: they are part of what a send costs.
  const outboxWritten = () => b.net.call(2, 'sendmessage_list', { limit: 1 });
  const withHash = {
    send: () => sendmessage(b, 2, { payment_hash: hashes.pop(), message_hex: MESSAGE }),
    settle: outboxWritten,
  };
  const spontaneous = { send: () => sendmessage(b, 2, { message_hex: MESSAGE }) };
  const core = { send: () => xkeysend(b, 2, MESSAGE) };
  const [hashTimes, spontaneousTimes, coreTimes] = (await latencies([withHash, spontaneous, core])) as [
    number[],
    number[],
    number[],
  ];
  const [hashRate, coreRate] = (await throughputs([withHash, core])) as [number, number];
  const figures = (times: number[]) => [fmt(median(times), 1), fmt(quantile(times, 0.95), 1)];
  // Each round sends once each way, back to back: a round's difference leaves out the load that
  // drifts over the run.
  const paired = (times: number[]) => {
    const d = times.map((t, i) => t - (coreTimes[i] as number));
    const sign = (x: number) => (x > 0 ? '+' : '');
    return `median ${sign(median(d))}${fmt(median(d), 2)}, faster in ${d.filter((x) => x < 0).length} of ${d.length} rounds`;
  };
  const ratios = (times: number[]) => [
    ratio(median(times), median(coreTimes)),
    ratio(quantile(times, 0.95), quantile(coreTimes, 0.95)),
  ];
  return {
    head: [
      '256-byte messages, node 2 → node 4 (2 channels)',
      'median latency',
      'p95 latency',
      `messages/s, ${SENDERS} senders at once`,
    ],
    rows: [
      ["lnmsg sendmessage, payee's hash", ...figures(hashTimes), hashRate.toFixed(1)],
      ['lnmsg sendmessage, spontaneous (keysend)', ...figures(spontaneousTimes), '-'],
      [`xkeysend, extratlvs ${RECORD}`, ...figures(coreTimes), coreRate.toFixed(1)],
      ["lnmsg (payee's hash) / xkeysend", ...ratios(hashTimes), ratio(hashRate, coreRate)],
      ['lnmsg (spontaneous) / xkeysend', ...ratios(spontaneousTimes), '-'],
    ],
    note:
      `Latency: ${ROUNDS} rounds of one send each, the first of the three rotating, ${PAUSE_MS} ms apart, after ` +
      `${WARM_UP} unmeasured sends each. Throughput: ${SENDERS} loops on node 2 at once, ${BLOCKS * BLOCK} ` +
      `messages each, in blocks of ${BLOCK} alternating between lnmsg and xkeysend, ${PAUSE_MS} ms apart; an lnmsg ` +
      `block ends when its outbox entries are written (sendmessage_list answers). Hashes made beforehand. ` +
      `Paired by round, lnmsg's latency less xkeysend's: payee's hash ${paired(hashTimes)}; spontaneous ` +
      `${paired(spontaneousTimes)}.`,
  };
}

/** Plain keysends node 2 → node 4 through node 3, `SENDERS` in flight at a time: payments per second. */
async function forwardingRate(b: Bench): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      while (next++ < FORWARDS) await b.net.coreKeysend(2, { destination: b.payee, amount_msat: AMOUNT });
    }),
  );
  return FORWARDS / (msSince(t0) / 1000);
}

/** Group 4: node 3's forwarding rate with lnmsg loaded and after `plugin stop`. */
async function forwarding(b: Bench): Promise<Omit<Table, 'title'>> {
  const loaded = await forwardingRate(b);
  // Last: lightningd v26.06 does not put a plugin back in the hook order on `plugin start`.
  await b.net.call(3, 'plugin', { subcommand: 'stop', plugin: PLUGIN });
  const stopped = await forwardingRate(b);
  return {
    head: ['node 3 forwarding node 2 → node 4', `keysends/s (${FORWARDS}, ${SENDERS} in flight)`],
    rows: [
      ['lnmsg loaded', loaded.toFixed(1)],
      ['lnmsg stopped (`plugin stop`)', stopped.toFixed(1)],
      ['loaded / stopped', ratio(loaded, stopped)],
    ],
  };
}

/**
 * Runs the four groups on one network, showing each table as it is ready; with `latencyOnly`, the
 * latency and throughput group alone (a quicker run while working on speed).
 */
export async function networkFigures(
  version: string,
  show: (table: Table) => void,
  latencyOnly = false,
): Promise<void> {
  const net = await Network.start(4);
  // Interrupted: lightningd runs in the background (it ignores Ctrl-C), so stop it here.
  const onSignal = () => void net.stop().finally(() => process.exit(130));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const b = { net, payee: await net.id(PAYEE) };
    const nodes = `4 lightningd ${version} nodes in a line (simchain)`;
    if (latencyOnly) {
      show({ title: `Latency and throughput: ${nodes}`, ...(await latencyAndThroughput(b)) });
      return;
    }
    const capacity = await bytesPerHtlc(b);
    show({ title: `Bytes per HTLC: ${nodes}`, ...capacity.table });
    const perHtlc = capacity.lnmsg.get(2) as number;
    show({ title: `HTLCs for a large message: ${nodes}`, ...(await largeMessages(b, perHtlc)) });
    show({
      title: `Latency and throughput, lnmsg and xkeysend: ${nodes}`,
      ...(await latencyAndThroughput(b)),
    });
    show({ title: `Middle node forwarding: ${nodes}`, ...(await forwarding(b)) });
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await net.stop();
  }
}
