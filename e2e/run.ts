/** `npm run test:e2e`: the end-to-end suite against real lightningd, or a plain skip without one. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = process.env.CLN_BIN;
if (!bin) {
  console.log('skipped: CLN_BIN not set');
  process.exit(0);
}
for (const tool of ['lightningd', 'lightning-cli']) {
  if (!existsSync(join(bin, tool))) {
    console.error(`CLN_BIN=${bin} holds no ${tool}`);
    process.exit(2);
  }
}
const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.js') && (only.length === 0 || only.some((o) => f.includes(o))))
  .map((f) => join(here, f));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
