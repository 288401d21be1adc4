import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { needsShared } from './support/shared.js';

/**
 * The payee (src/receive) against a model of lightningd's HTLCs (test/support/lightningd-model.ts):
 * random schedules of honest payers, rival payers and forging routing nodes, parts in any order,
 * duplicated and replayed, timers, holds, decisions, notifications and restarts, each step checked
 * against the invariants in test/support/payee-invariants.ts and each schedule ending with an
 * honest payment of every hash still open. LNMSG_MODEL_RUNS asks for more schedules;
 * LNMSG_MODEL_SEED (and LNMSG_MODEL_PATH) replay the ones a report names.
 */
const RUNS = whole('LNMSG_MODEL_RUNS', 10_000, 1);
const SEED =
  process.env.LNMSG_MODEL_SEED === undefined ? undefined : whole('LNMSG_MODEL_SEED', 0, -(2 ** 31));
const PATH = process.env.LNMSG_MODEL_PATH;

function whole(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min)
    throw new Error(`${name} must be a whole number >= ${min}, got ${raw}`);
  return n;
}

/** One share of the schedules in a worker thread (the machine's cores share the work): its report, or null. */
function inWorker(data: { runs: number; seed: number; path?: string }): Promise<string | null> {
  const worker = new Worker(new URL('./support/payee-model-worker.js', import.meta.url), {
    workerData: data,
  });
  return new Promise<string | null>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`the model's worker exited with ${code} before reporting`)),
    );
  }).finally(() => worker.terminate());
}

test(
  `the payee against a model of lightningd: ${RUNS} random schedules of payers, forgers, timers, decisions and restarts`,
  needsShared('fixtures'),
  async () => {
    const workers = SEED === undefined ? Math.max(1, Math.min(availableParallelism(), 4, RUNS)) : 1;
    const first = SEED ?? Math.floor(Math.random() * 2 ** 31);
    const shares = Array.from({ length: workers }, (_, i) =>
      inWorker({
        runs: Math.floor((RUNS * (i + 1)) / workers) - Math.floor((RUNS * i) / workers),
        seed: (first + i) | 0,
        ...(PATH ? { path: PATH } : {}),
      }),
    );
    const reports = (await Promise.all(shares)).filter((r): r is string => r !== null);
    if (reports.length > 0) assert.fail(reports.join('\n\n'));
  },
);
