/**
 * `npm run bench`: prints figures, asserts nothing. With CLN_BIN it also runs the real-network
 * figures and writes every table to bench/results.md.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../test/support/shared.js';
import { codecFigures } from './codecs.js';
import { networkFigures } from './network.js';
import { pluginFigures } from './plugin.js';
import { storeFigures } from './store.js';
import { markdown, type Table } from './table.js';

// The load average says how busy the machine was: the figures compare runs only on a quiet one.
const load = () => loadavg()[0]?.toFixed(1);
const machine = `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`;
const lightningdVersion = (bin: string) =>
  spawnSync(join(bin, 'lightningd'), ['--version'], { encoding: 'utf8' }).stdout.trim();
const loadAtStart = load();
console.log(`lnmsg bench: ${machine}, load average ${loadAtStart}, ${new Date().toISOString()}`);
const tables: Table[] = [];
const show = (table: Table) => {
  tables.push(table);
  console.log(`\n${markdown(table)}`);
};
const run = async (title: string, figures: () => [string, string][] | Promise<[string, string][]>) =>
  show({ title, head: ['what', 'figure'], rows: await figures() });
const clnBin = process.env.CLN_BIN;
// LNMSG_BENCH_ONLY=latency: lnmsg against xkeysend alone, printed, bench/results.md left as it is.
if (process.env.LNMSG_BENCH_ONLY === 'latency') {
  if (!clnBin) throw new Error('LNMSG_BENCH_ONLY=latency needs CLN_BIN');
  await networkFigures(lightningdVersion(clnBin), show, true);
  console.log(`\nload average ${load()} at the end`);
  process.exit(0);
}
await run('Codecs', codecFigures);
await run('Plugin process (recorded lightningd messages, fake lightningd socket)', pluginFigures);
await run('Store at scale (plugin process, fake lightningd datastore)', storeFigures);
if (clnBin) {
  const version = lightningdVersion(clnBin);
  const t0 = Date.now();
  await networkFigures(version, show);
  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
  const file = join(projectRoot, 'bench', 'results.md');
  writeFileSync(
    file,
    [
      '# lnmsg bench results',
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}, load average ${loadAtStart} at the start and ${load()} at the end.`,
      `Real network: lightningd ${version}, ${minutes} min. Reproduce: \`CLN_BIN=/path/to/cln/bin npm run bench\` (README, "Benchmarks").`,
      '',
      ...tables.map(markdown),
    ].join('\n'),
  );
  console.log(`\nreal network: ${minutes} min; written to ${file}`);
} else {
  console.log('\nreal-network figures skipped: CLN_BIN not set');
}
