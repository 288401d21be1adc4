/** `npm run bench`: prints figures, asserts nothing. With CLN_BIN, also the real-network figures. */
import { codecFigures } from './codecs.js';
import { pluginFigures } from './plugin.js';

function print(title: string, rows: [string, string][]): void {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map(([what]) => what.length));
  for (const [what, figure] of rows) console.log(`  ${what.padEnd(width)}  ${figure}`);
}

console.log(`lnmsg bench: node ${process.version}, ${new Date().toISOString()}`);
print('Codecs', codecFigures());
print('Plugin process (recorded lightningd messages, fake lightningd socket)', await pluginFigures());
