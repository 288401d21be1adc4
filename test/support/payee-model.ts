import fc from 'fast-check';
import { recordedFinalHtlc } from './htlc.js';
import { MAKE_HASH, STEPS } from './payee-commands.js';
import { finish } from './payee-finish.js';
import { World } from './payee-world.js';

/** One batch of random schedules: fast-check's report of the first that breaks an invariant, shrunk. */
export async function runSchedules(o: {
  runs: number;
  seed: number;
  path?: string;
}): Promise<string | undefined> {
  const base = recordedFinalHtlc();
  const property = fc.asyncProperty(
    fc.record({ decider: fc.boolean() }),
    // Every schedule starts with a hash or three to pay, then any steps.
    fc.array(MAKE_HASH, { minLength: 1, maxLength: 3 }),
    fc.commands([STEPS], { maxCommands: 40, size: 'max' }),
    async (options, hashes, steps) => {
      const w = new World(options, base);
      await w.start();
      try {
        await fc.asyncModelRun(() => ({ model: w, real: w }), [...hashes, ...steps]);
        await finish(w);
      } finally {
        w.stop();
      }
    },
  );
  const details = await fc.check(property, {
    numRuns: o.runs,
    seed: o.seed,
    ...(o.path ? { path: o.path } : {}),
    includeErrorInReport: true,
  });
  return details.failed ? fc.defaultReportMessage(details) : undefined;
}
