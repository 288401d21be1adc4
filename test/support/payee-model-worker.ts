import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runSchedules } from './payee-model.js';

/**
 * A worker thread's share of the model's schedules (test/receiver-model.test.ts): its report, or
 * null. Run as a file of its own (the test runner goes through every file), it does nothing.
 */
if (!isMainThread) {
  const report = await runSchedules(workerData as { runs: number; seed: number; path?: string });
  parentPort?.postMessage(report ?? null);
}
