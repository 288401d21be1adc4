import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (tests run from dist/test/...). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** ../shared beside the project, or LNMSG_SHARED. Vectors and fixtures are read from there at run time. */
export const sharedDir = process.env.LNMSG_SHARED ?? resolve(projectRoot, '../shared');

export function sharedFile(...parts: string[]): string {
  return join(sharedDir, ...parts);
}

/** `{ skip: reason }` for node:test when a shared file is missing, else `{}`. */
export function needsShared(...parts: string[]): { skip?: string } {
  const path = sharedFile(...parts);
  return existsSync(path) ? {} : { skip: `${path} not found (set LNMSG_SHARED to the shared folder)` };
}

export function readShared(...parts: string[]): string {
  return readFileSync(sharedFile(...parts), 'utf8');
}

export function readJsonl<T = Record<string, unknown>>(...parts: string[]): T[] {
  return readShared(...parts)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}
