/**
 * The plugin as lightningd sees it: bin/lnmsg-plugin started as a child process, spoken to with
 * recorded lightningd messages over stdin/stdout, its RPC calls answered by the fake lightningd.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { htlcAccepted } from '../src/receive/hook.js';
import { RECEIVER_DEFAULTS } from '../src/receive/config.js';
import { Receiver } from '../src/receive/receiver.js';
import { MemoryKv } from '../src/store/kv.js';
import { MessageStore } from '../src/store/messages.js';
import { DEFAULT_MESSAGE_TLV_TYPE, fromHex, toHex } from '../src/index.js';
import { htlcRequest } from '../test/support/htlc.js';
import { Node } from '../test/support/plugin-node.js';
import { recordedHookRequests } from '../test/support/recorded.js';
import { fmt, median, msSince, quantile } from './stats.js';

const PASS_THROUGH = 10_000;
const MESSAGES = 500;
const STARTS = 10;

/** The intermediate-hop request node 2 got in the recorded sendonion run: an HTLC it only forwards. */
function forwardedHtlc() {
  const rec = recordedHookRequests().find((r) => r.rec.step === 'htlc-sendonion' && r.rec.node === 2);
  if (!rec) throw new Error('no recorded intermediate htlc_accepted');
  return rec.msg.params as { htlc: Record<string, unknown> } & Record<string, unknown>;
}

function kib(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
}

async function hookTimes(node: Node, count: number, request: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const params = await request();
    node.plugin.messages.splice(0); // keep the harness's own look-ups out of the figures
    const t = process.hrtime.bigint();
    await node.hook(params);
    times.push(msSince(t));
  }
  return times;
}

export async function pluginFigures(): Promise<[string, string][]> {
  const starts: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const node = await Node.start();
    const t = process.hrtime.bigint();
    await node.startPlugin();
    starts.push(msSince(t));
    await node.stop();
  }

  const node = await Node.start();
  await node.startPlugin();
  const pid = node.plugin.pid;
  const rssIdle = kib(pid, 'VmRSS');
  const forwarded = forwardedHtlc();
  const pass = await hookTimes(node, PASS_THROUGH, async () => ({
    ...forwarded,
    htlc: { ...forwarded.htlc, payment_hash: toHex(randomBytes(32)) },
  }));
  const message = new Uint8Array(1000).fill(0x61);
  const settle = await hookTimes(node, MESSAGES, async () => {
    const hash = await node.result<string>('receivemessage_new', [1000]);
    return htlcRequest({
      paymentHash: hash,
      payload: {
        amtToForward: 1000n,
        outgoingCltvValue: 126,
        customRecords: [{ type: DEFAULT_MESSAGE_TLV_TYPE, value: message }],
      },
    });
  });
  const rssAfter = kib(pid, 'VmRSS');
  const rssPeak = kib(pid, 'VmHWM');
  await node.stop();

  // The handler alone, in this process: what the hook costs without the pipes and JSON.
  const receiver = new Receiver(new MessageStore(new MemoryKv()), {
    ...RECEIVER_DEFAULTS,
    tlvType: DEFAULT_MESSAGE_TLV_TYPE,
    nodeId: fromHex(`02${'11'.repeat(32)}`),
  });
  const inProcess: number[] = [];
  for (let i = 0; i < PASS_THROUGH; i++) {
    const req = { ...forwarded, htlc: { ...forwarded.htlc, payment_hash: toHex(randomBytes(32)) } };
    const t = process.hrtime.bigint();
    await htlcAccepted(receiver, req);
    inProcess.push(msSince(t));
  }

  const mp = (xs: number[], digits = 3) =>
    `median ${fmt(median(xs), digits)}, p99 ${fmt(quantile(xs, 0.99), digits)}`;
  return [
    [`plugin start-up to init answered (${STARTS} starts)`, `median ${fmt(median(starts), 1)}`],
    [`htlc_accepted pass-through, lightningd's view (${PASS_THROUGH} HTLCs, pipe round trip)`, mp(pass)],
    [`htlc_accepted pass-through, handler alone (${PASS_THROUGH} HTLCs)`, mp(inProcess, 4)],
    [`htlc_accepted 1000-byte message stored + settled (${MESSAGES}, datastore over RPC)`, mp(settle)],
    [
      'plugin resident memory',
      `${(rssIdle / 1024).toFixed(1)} MiB after init, ${(rssAfter / 1024).toFixed(1)} MiB after ${PASS_THROUGH + MESSAGES} HTLCs, peak ${(rssPeak / 1024).toFixed(1)} MiB`,
    ],
  ];
}
