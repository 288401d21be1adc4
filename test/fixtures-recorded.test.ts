// The recordings in test/fixtures/cln-v26.06.6 and cln-v24.11.2 (see their READMEs) are self-consistent:
// every line is JSON, and every `rpc` record's raw reads, joined, parse to its `reply`.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { projectRoot } from './support/shared.js';

for (const folder of ['cln-v26.06.6', 'cln-v24.11.2']) {
  const DIR = join(projectRoot, 'test', 'fixtures', folder);
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.jsonl'))
    .sort();

  describe(`recorded fixtures ${folder}`, () => {
    test('the folder holds recordings', () => {
      assert.ok(files.length > 0, `no .jsonl files in ${DIR}`);
    });

    for (const file of files) {
      test(file, () => {
        const lines = readFileSync(join(DIR, file), 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '');
        assert.ok(lines.length > 0, `${file} is empty`);
        lines.forEach((line, i) => {
          let rec: { kind?: unknown; name?: unknown; chunks?: unknown; reply?: unknown };
          try {
            rec = JSON.parse(line) as typeof rec;
          } catch (err) {
            assert.fail(`${file}:${i + 1} is not JSON: ${String(err)}`);
          }
          if (rec.kind !== 'rpc') return;
          assert.ok(
            Array.isArray(rec.chunks) && rec.chunks.every((c) => typeof c === 'string'),
            `${file}:${i + 1} (${String(rec.name)}): chunks must be strings`,
          );
          assert.deepEqual(
            JSON.parse(rec.chunks.join('')),
            rec.reply,
            `${file}:${i + 1} (${String(rec.name)}): chunks do not parse to reply`,
          );
        });
      });
    }
  });
}
