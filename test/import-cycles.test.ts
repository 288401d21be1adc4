import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
/** `import … from './x.js'` and `export … from '../y.js'`, type-only ones too: a cycle of types is one to untangle as well. */
const RELATIVE = /^(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)\.js'/gms;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every module's relative imports, as source paths. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    g.set(
      file,
      [...text.matchAll(RELATIVE)].map((m) => resolve(dirname(file), `${m[1] as string}.ts`)),
    );
  }
  return g;
}

/** A cycle through the graph, as the files on it, or undefined. */
function cycle(g: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === 'done') return undefined;
    if (state.get(f) === 'open') return [...path.slice(path.indexOf(f)), f];
    state.set(f, 'open');
    path.push(f);
    for (const next of g.get(f) ?? []) {
      const found = visit(next);
      if (found) return found;
    }
    path.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of g.keys()) {
    const found = visit(f);
    if (found) return found;
  }
  return undefined;
}

test('src has no import cycle', () => {
  const g = graph();
  assert.ok(g.size > 50, `${g.size} modules read`);
  const found = cycle(g);
  assert.equal(found?.map((f) => f.slice(SRC.length + 1)).join(' -> '), undefined);
});

test('the cycle check finds one', () => {
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
  ]);
  assert.deepEqual(cycle(g), ['a', 'b', 'c', 'a']);
  assert.equal(cycle(new Map([['a', ['b']]])), undefined);
});
