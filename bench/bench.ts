/**
 * `npm run bench`: prints figures, asserts nothing. With CLN_BIN it also runs the real-network
 * figures and writes every table to bench/results.md.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../test/support/shared.js';
import { codecFigures } from './codecs.js';
import { networkFigures } from './network.js';
import { pluginFigures } from './plugin.js';
import { storeFigures } from './store.js';

type Table = { title: string; rows: [string, string][] };

function print({ title, rows }: Table): void {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map(([what]) => what.length));
  for (const [what, figure] of rows) console.log(`  ${what.padEnd(width)}  ${figure}`);
}

const markdown = ({ title, rows }: Table) =>
  [`## ${title}`, '', '| what | figure |', '|---|---|', ...rows.map(([w, f]) => `| ${w} | ${f} |`), ''].join(
    '\n',
  );

const machine = `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`;
console.log(`lnmsg bench: ${machine}, ${new Date().toISOString()}`);
const tables: Table[] = [];
const run = async (title: string, figures: () => [string, string][] | Promise<[string, string][]>) => {
  const table = { title, rows: await figures() };
  tables.push(table);
  print(table);
};
await run('Codecs', codecFigures);
await run('Plugin process (recorded lightningd messages, fake lightningd socket)', pluginFigures);
await run('Store at scale (plugin process, fake lightningd datastore)', storeFigures);
const clnBin = process.env.CLN_BIN;
if (clnBin) {
  const version = spawnSync(join(clnBin, 'lightningd'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  await run(`Real network: 3 lightningd ${version} nodes on simchain`, networkFigures);
  const file = join(projectRoot, 'bench', 'results.md');
  writeFileSync(
    file,
    [
      '# lnmsg bench results',
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}.`,
      'Reproduce: `CLN_BIN=/path/to/cln/bin npm run bench` (README, "Benchmarks").',
      '',
      ...tables.map(markdown),
    ].join('\n'),
  );
  console.log(`\nwritten to ${file}`);
} else {
  console.log('\nreal-network figures skipped: CLN_BIN not set');
}
