/**
 * lnmsg's store at scale: the plugin process over a fake lightningd whose datastore already holds
 * 100 or 100,000 messages. Start-up, memory, a page of the list and a poll must not grow with it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MemoryKv } from '../src/store/kv.js';
import { MessageStore } from '../src/store/messages.js';
import { toHex } from '../src/wire/bytes.js';
import { Node } from '../test/support/plugin-node.js';
import { fmt, median, msSince } from './stats.js';

const SIZES = [100, 100_000];
const STARTS = 5;
const CALLS = 100;

function rssMiB(pid: number | undefined): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

/** `count` 256-byte spontaneous messages written by lnmsg's own store, as its datastore entries. */
async function storedMessages(count: number) {
  const kv = new MemoryKv();
  const store = new MessageStore(kv);
  await store.open();
  const hashes: string[] = [];
  for (let i = 0; i < count; i++) {
    const paymentHash = toHex(randomBytes(32));
    hashes.push(paymentHash);
    await store.addMessage({
      paymentHash,
      messageHex: toHex(randomBytes(256)),
      tlvType: 34349334,
      amountMsat: 1000,
      receivedAt: 1_790_000_000 + i,
      htlcs: [{ channel: '103x2x0', id: i, amountMsat: 1000 }],
      status: 'settled',
      spontaneous: true,
    });
  }
  return { entries: kv.all(), hashes };
}

async function figuresFor(count: number): Promise<[string, string][]> {
  const { entries, hashes } = await storedMessages(count);
  const node = await Node.start();
  for (const e of entries) node.datastore.put(e.key, e.value);
  const starts: number[] = [];
  let rss = 0;
  for (let i = 0; i < STARTS; i++) {
    if (i > 0) await node.plugin.kill();
    const t = process.hrtime.bigint();
    await node.startPlugin();
    starts.push(msSince(t));
    rss = rssMiB(node.plugin.pid);
  }
  const timed = async (call: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t = process.hrtime.bigint();
      await call();
      times.push(msSince(t));
    }
    return `median ${fmt(median(times), 2)}`;
  };
  const pick = (below: number) => Math.floor(Math.random() * below);
  // Full pages only, so both sizes list the same 100 messages a call.
  const list = await timed(() =>
    node.result('receivemessage_list', { index: 'created', start: 1 + pick(count - 99), limit: 100 }),
  );
  const poll = await timed(() => node.result('receivemessage_poll', [hashes[pick(count)]]));
  await node.stop();
  const n = count.toLocaleString('en-US');
  return [
    [
      `${n} messages stored: plugin start-up to init answered (${STARTS} starts)`,
      `median ${fmt(median(starts), 1)}`,
    ],
    [`${n} messages stored: plugin resident memory after init`, `${rss.toFixed(1)} MiB`],
    [`${n} messages stored: receivemessage_list limit=100 (${CALLS} calls)`, list],
    [`${n} messages stored: receivemessage_poll (${CALLS} calls)`, poll],
  ];
}

export async function storeFigures(): Promise<[string, string][]> {
  const rows: [string, string][] = [];
  for (const n of SIZES) rows.push(...(await figuresFor(n)));
  return rows;
}
