import { FIXTURES } from './fake-lightningd.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, readJsonl } from './shared.js';

/** A message on a recorded plugin's pipe (README: kind `plugin`), or a raw stdin read (kind `stdin`). */
export interface PipeRecord {
  kind: 'plugin' | 'stdin';
  step: string;
  node: number;
  dir: 'in' | 'out' | 'read';
  raw: string;
}

export interface RecordedMessage {
  jsonrpc: string;
  id?: string;
  method?: string;
  params?: Record<string, unknown>;
}

/** Where recordings are read from: the shared fixtures, or this project's own (test/fixtures/cln-v26.06.6). */
export type Recordings = 'shared' | 'own';

/** Every line of one of this project's own recordings (test/fixtures/<folder>, by default cln-v26.06.6). */
export function ownRecordings<T>(file: string, folder = 'cln-v26.06.6'): T[] {
  return readFileSync(join(projectRoot, 'test', 'fixtures', folder, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

function readRecordings<T>(file: string, from: Recordings): T[] {
  return from === 'shared' ? readJsonl<T>(...FIXTURES, file) : ownRecordings<T>(file);
}

export function pipeRecords(file: string, from: Recordings = 'shared'): PipeRecord[] {
  return readRecordings<PipeRecord & { kind: string }>(file, from).filter(
    (r): r is PipeRecord => r.kind === 'plugin' || r.kind === 'stdin',
  );
}

/** What lightningd wrote to a plugin in `file`, as raw text (no "\n\n") and parsed. */
export function lightningdMessages(
  file: string,
  from: Recordings = 'shared',
): { rec: PipeRecord; raw: string; msg: RecordedMessage }[] {
  return pipeRecords(file, from)
    .filter((r) => r.dir === 'in' || r.dir === 'read')
    .map((rec) => {
      const raw = rec.raw.replace(/\n\n$/, '');
      return { rec, raw, msg: JSON.parse(raw) as RecordedMessage };
    });
}

function only<T>(items: T[], what: string): T {
  const [first] = items;
  if (items.length !== 1 || first === undefined)
    throw new Error(`expected one ${what}, found ${items.length}`);
  return first;
}

/** The getmanifest lightningd sent at a node's start-up (`cln:getmanifest#20`), verbatim. */
export function recordedGetmanifest(step = 'startup-cmdline-options'): string {
  return only(
    lightningdMessages('plugin-startup.jsonl').filter(
      (m) => m.rec.step === step && m.msg.method === 'getmanifest',
    ),
    `getmanifest in ${step}`,
  ).raw;
}

/** Every getmanifest lightningd sent (start-up and the two dynamic `plugin start`s). */
export function recordedGetmanifests(): string[] {
  return lightningdMessages('plugin-startup.jsonl')
    .filter((m) => m.msg.method === 'getmanifest')
    .map((m) => m.raw);
}

/**
 * Node 3's recorded `init` (start-up with options) with `configuration.lightning-dir` changed to
 * `lightningDir`, where the fake lightningd's `lightning-rpc` socket is, and `options` merged
 * into the recorded options (lnmsg reads only its own; the recorder's are left as they were).
 */
export function recordedInit(lightningDir: string, options: Record<string, unknown> = {}): string {
  const { msg } = only(
    lightningdMessages('plugin-startup.jsonl').filter(
      (m) => m.rec.step === 'startup-cmdline-options' && m.msg.method === 'init',
    ),
    'init of node 3',
  );
  const params = msg.params as { options: Record<string, unknown>; configuration: Record<string, unknown> };
  return JSON.stringify({
    ...msg,
    params: {
      ...params,
      options: { ...params.options, ...options },
      configuration: { ...params.configuration, 'lightning-dir': lightningDir },
    },
  });
}

/** The `shutdown` notification lightningd sent on `plugin stop` (node 1), verbatim. */
export function recordedShutdown(): string {
  return only(
    lightningdMessages('plugin-startup.jsonl').filter(
      (m) => m.rec.step === 'plugin-stop' && m.msg.method === 'shutdown',
    ),
    'shutdown in plugin-stop',
  ).raw;
}

const HOOK_FILES = [
  'htlc-accepted-sendonion.jsonl',
  'htlc-accepted-injectpaymentonion.jsonl',
  'htlc-accepted-xkeysend.jsonl',
  'htlc-accepted-xpay-bolt11.jsonl',
  'htlc-accepted-mpp-sendonion.jsonl',
  'plugin-stdin-framing.jsonl',
];

/** Every distinct htlc_accepted request lightningd sent in the recordings, verbatim. */
export function recordedHookRequests(): { rec: PipeRecord; raw: string; msg: RecordedMessage }[] {
  const byId = new Map<string, { rec: PipeRecord; raw: string; msg: RecordedMessage }>();
  for (const file of HOOK_FILES) {
    for (const m of lightningdMessages(file)) {
      if (m.msg.method !== 'htlc_accepted') continue;
      const id = `${m.rec.node}/${m.msg.id}`;
      const seen = byId.get(id);
      if (seen && seen.raw !== m.raw) throw new Error(`two different recorded requests ${id}`);
      byId.set(id, m);
    }
  }
  return [...byId.values()];
}

/** `cln:htlc_accepted#125` → `cln:htlc_accepted#<n>`: lightningd numbers each request anew. */
export function renumber(recordedId: string, n: number): string {
  return recordedId.replace(/#\d+$/, `#${n}`);
}

/**
 * A JSON-RPC request to a plugin method as lightningd passes it through from lightning-cli: the
 * recorded `recorder-echo` passthrough text (lightning-cli's spacing, id `cli:…#N/cln:…#M`) with
 * the method, the params and the numbers in the id changed. Array params take the positional
 * recording, object params the `-k` one.
 */
export function passthroughRequest(method: string, params: unknown[] | Record<string, unknown>, n: number) {
  const positional = Array.isArray(params);
  const { raw, msg } = only(
    lightningdMessages('rpc-passthrough.jsonl').filter(
      (m) => m.rec.step === (positional ? 'passthrough-echo-positional' : 'passthrough-echo-named'),
    ),
    'recorded lightning-cli passthrough',
  );
  const recordedMethod = msg.method as string;
  const recordedId = msg.id as string;
  const ids = /^cli:[^#]+#(\d+)\/cln:[^#]+#(\d+)$/.exec(recordedId);
  if (!ids) throw new Error(`unexpected passthrough id ${recordedId}`);
  const id = `cli:${method}#${Number(ids[1]) + n}/cln:${method}#${Number(ids[2]) + n}`;
  const params0 = /("params"\s*:)[\s\S]*?(\s*}\s*)$/;
  if (!params0.test(raw)) throw new Error('recorded passthrough has no trailing params');
  const text = raw
    .replace(JSON.stringify(recordedMethod), JSON.stringify(method))
    .replace(JSON.stringify(recordedId), JSON.stringify(id))
    .replace(params0, (_, head: string, tail: string) => `${head}${JSON.stringify(params)}${tail}`);
  const parsed = JSON.parse(text) as RecordedMessage;
  if (parsed.method !== method || parsed.id !== id) throw new Error(`passthrough rewrite failed: ${text}`);
  return { id, raw: text };
}
