import { parentPort, workerData } from 'node:worker_threads';
import { runSchedules } from './payee-model.js';

/** A worker thread's share of the model's schedules (test/receiver-model.test.ts): its report, or null. */
const report = await runSchedules(workerData as { runs: number; seed: number; path?: string });
parentPort?.postMessage(report ?? null);
