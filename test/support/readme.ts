/**
 * README.md's commands, found and split as sh and lightning-cli would: for the test that runs
 * each of them (test/readme-commands.test.ts) and the end-to-end suite that runs some on real
 * lightningd.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './shared.js';

export const README = readFileSync(join(projectRoot, 'README.md'), 'utf8');

/** The README's `/path/to/lnmsg` is this checkout. */
export const local = (s: string) => s.replaceAll('/path/to/lnmsg', projectRoot);

/** Where README.md says something: a block's commands, or an inline `command` in the prose. */
export interface Found {
  line: number;
  kind: 'shell' | 'config' | 'systemd';
  text: string;
}

/** Info strings of blocks that hold no command by their nature. */
const NOT_COMMANDS = new Set(['text', 'json', 'ts', 'typescript', 'js', 'javascript']);
const SHELL = new Set(['', 'sh', 'bash', 'shell', 'console']);
/** Inline code that is a command: one of lnmsg's tools with arguments (not a message quoting a name). */
const INLINE_COMMAND = /^([A-Z_]+=\S+ )*(lnmsg \S|\.\/bin\/lnmsg \S|lightning-cli \S|lightningd -|npm [a-z])/;

/** The commands in `markdown`; throws on a block it cannot tell the nature of. */
export function readmeCommands(markdown: string): Found[] {
  const lines = markdown.split('\n');
  const found: Found[] = [];
  const prose: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!fence) {
      prose.push(lines[i] as string);
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] as string);
    // Blank in the prose: a block ends any inline code, and the prose keeps the file's line numbers.
    prose.push(...Array<string>(i - start + 1).fill(''));
    const lang = fence[1] as string;
    const before =
      lines
        .slice(0, start)
        .reverse()
        .find((l) => l.trim() !== '') ?? '';
    const marker = /^<!--\s*not a command(.*?)-->$/.exec(before.trim());
    if (marker) {
      if (!/^\s*:\s*\S/.test(marker[1] as string))
        throw new Error(`README.md:${start + 1}: say why: <!-- not a command: reason -->`);
      continue;
    }
    if (NOT_COMMANDS.has(lang)) continue;
    const text = body.join('\n');
    if (SHELL.has(lang)) found.push({ line: start + 2, kind: 'shell', text });
    else if (lang === 'ini')
      found.push({
        line: start + 2,
        kind: body.some((l) => /^\[.*\]$/.test(l)) ? 'systemd' : 'config',
        text,
      });
    else
      throw new Error(`README.md:${start + 1}: a \`\`\`${lang} block: neither a command nor marked as none`);
  }
  // Inline code may wrap over lines in the prose.
  const text = prose.join('\n');
  for (const m of text.matchAll(/`([^`]+)`/g)) {
    const code = (m[1] as string).replace(/\s*\n\s*/g, ' ');
    if (INLINE_COMMAND.test(code))
      found.push({ line: text.slice(0, m.index).split('\n').length, kind: 'shell', text: code });
  }
  return found;
}

/** One simple command of a shell line: its environment, words, and what its output is piped to. */
export interface Command {
  env: Record<string, string>;
  argv: string[];
  pipe: string[][];
  /** The line as written, for messages. */
  source: string;
}

/**
 * The commands of shell text, split as sh does: quotes, backslash-newline, comments from an
 * unquoted `#` that starts a word, `&&` and `;` between commands, `|` into a pipeline.
 */
export function shellCommands(text: string): Command[] {
  const out: Command[] = [];
  for (const source of text.replace(/\\\n/g, ' ').split('\n')) {
    const words: (string | { op: string })[] = [];
    let word: string | undefined;
    let quote: string | undefined;
    let i = 0;
    for (; i < source.length; i++) {
      const c = source[i] as string;
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && quote === '"' && /["\\$`]/.test(source[i + 1] ?? ''))
          word = `${word}${source[++i]}`;
        else word = `${word}${c}`;
      } else if (c === '"' || c === "'") {
        quote = c;
        word ??= '';
      } else if (/\s/.test(c)) {
        if (word !== undefined) words.push(word);
        word = undefined;
      } else if (c === '#' && word === undefined) break;
      else if (c === '&' && source[i + 1] === '&') {
        if (word !== undefined) words.push(word);
        word = undefined;
        words.push({ op: '&&' });
        i++;
      } else if (c === ';' || c === '|') {
        if (word !== undefined) words.push(word);
        word = undefined;
        words.push({ op: c });
      } else word = (word ?? '') + c;
    }
    if (quote) throw new Error(`unterminated quote in: ${source}`);
    if (word !== undefined) words.push(word);
    let current: string[][] = [[]];
    const flush = () => {
      const [first, ...pipe] = current;
      if (first && first.length > 0) {
        const env: Record<string, string> = {};
        while (first[0] !== undefined && /^[A-Za-z_]\w*=/.test(first[0])) {
          const [k, ...v] = (first.shift() as string).split('=');
          env[k as string] = v.join('=');
        }
        out.push({ env, argv: first, pipe, source: source.trim() });
      }
      current = [[]];
    };
    for (const w of words) {
      if (typeof w === 'string') (current.at(-1) as string[]).push(w);
      else if (w.op === '|') current.push([]);
      else flush();
    }
    flush();
  }
  return out;
}

/** A lightning-cli argument as lightning-cli sends it: numbers, true/false/null and JSON as they are, else a string. */
function cliValue(arg: string): unknown {
  const literal =
    /^\d+$/.test(arg) ||
    ['true', 'false', 'null'].includes(arg) ||
    /^\{.*\}$/s.test(arg) ||
    /^\[.*\]$/s.test(arg) ||
    /^".*"$/s.test(arg);
  return literal ? JSON.parse(arg) : arg;
}

/** What lightning-cli sends for `argv` (after its own options): positional params, or an object with -k. */
export function lightningCliRequest(argv: string[]): {
  method: string;
  params: unknown[] | Record<string, unknown>;
} {
  let keywords: boolean | undefined;
  let i = 0;
  for (; i < argv.length && (argv[i] as string).startsWith('-'); i++) {
    const o = argv[i] as string;
    if (o === '-k' || o === '--keywords') keywords = true;
    else if (o === '-o' || o === '--order') keywords = false;
    else if (!/^(-H|-J|--human-readable|--json|--lightning-dir=.+|--network=.+|--rpc-file=.+)$/.test(o))
      throw new Error(`lightning-cli has no option ${o}`);
  }
  const [method, ...args] = argv.slice(i);
  if (!method) throw new Error('lightning-cli without a command');
  // As lightning-cli guesses: keywords when the first parameter has an "=".
  keywords ??= args[0]?.includes('=') ?? false;
  if (!keywords) return { method, params: args.map(cliValue) };
  const params: Record<string, unknown> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq < 0) throw new Error(`lightning-cli: expected key=value in '${a}'`);
    params[a.slice(0, eq)] = cliValue(a.slice(eq + 1));
  }
  return { method, params };
}
