/**
 * Every command README.md shows is run here, so none can go stale. Commands are the lines of its
 * shell blocks (```sh), the lines of its lightningd config blocks (```ini) and inline code that
 * starts with one of lnmsg's tools. Each is classified by its program and run the way it can be:
 * lnmsg for real (against the plugin behind a fake lightningd when it needs a node), lightning-cli
 * parsed as lightning-cli parses its arguments and sent to the real plugin (or, for lightningd's
 * own `plugin` command, checked against its rules and the plugin's options), npm checked for form.
 * A command that cannot be classified fails the test: add a case here, or mark the block
 * `<!-- not a command: why -->` (or ```text) when it is no command.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { utf8 } from '../src/index.js';
import { cliNode, deliver, LNMSG, lnmsg, output, recordedPayment, until } from './support/cli.js';
import { FIXTURES } from './support/fake-lightningd.js';
import { type Manifest, Node } from './support/plugin-node.js';
import type { PluginMessage } from './support/plugin-process.js';
import {
  type Command,
  lightningCliRequest,
  local,
  README,
  readmeCommands,
  shellCommands,
} from './support/readme.js';
import { needsShared, projectRoot } from './support/shared.js';

const PKG = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  scripts: Record<string, string>;
};
const PLUGIN = join(projectRoot, 'bin', 'lnmsg-plugin');

describe('every command in README.md runs as written', needsShared(...FIXTURES), () => {
  let node: Node;
  let work: string;
  const checked: string[] = [];
  before(async () => {
    node = await cliNode();
    // The commands' working directory, with the files they name.
    work = mkdtempSync(join(tmpdir(), 'lnmsg-readme-'));
    writeFileSync(join(work, 'message.bin'), new Uint8Array([0, 1, 2, 0xff]));
  });
  after(async () => {
    try {
      await node?.stop();
    } finally {
      if (work) rmSync(work, { recursive: true, force: true });
    }
  });

  const manifest = (): Manifest => node.manifest;
  const newHash = (params: Record<string, unknown> = {}) => node.result<string>('receivemessage_new', params);
  /** A hash with a settled message stored under it. */
  const storedHash = async () => {
    const hash = await newHash();
    await deliver(node, hash, utf8.encode('stored for the README'));
    return hash;
  };
  /** A hash whose message is held for a decision; `answer` is the HTLC's, once decided. */
  const heldHash = async () => {
    const hash = await newHash({ hold: true });
    const answer = deliver(node, hash, utf8.encode('held for the README'));
    await node.result('receivemessage_wait', { payment_hash: hash, timeout: 30 });
    return { hash, answer };
  };
  /** The payee's id and a hash, as the README's placeholders stand for them. */
  const placeholders = (words: string[], hash: string | undefined): string[] =>
    words.map((w) =>
      /^02ee(\.\.\.|50\.\.\.4626a)$/.test(w)
        ? recordedPayment().destination
        : w === '5e1a...'
          ? (hash ?? assert.fail('a payment hash where none is expected'))
          : local(w),
    );

  /** The options a config, command line or `plugin start` gives: known to the plugin, and taken at init. */
  const assertOptionsTaken = async (given: Record<string, string | unknown>, where: string) => {
    const typed: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(given)) {
      const spec = manifest().options.find((o) => o.name === name);
      assert.ok(spec, `${where}: lnmsg has no option ${name}`);
      typed[name] = spec.type === 'int' && typeof value === 'string' ? Number(value) : value;
      if (spec.type === 'int')
        assert.ok(Number.isSafeInteger(typed[name]), `${where}: ${name} takes a whole number`);
    }
    const fresh = await Node.start();
    try {
      const init = await fresh.startPlugin(typed);
      assert.equal(
        (init.result as { disable?: string }).disable,
        undefined,
        `${where}: the plugin disabled itself`,
      );
    } finally {
      await fresh.stop();
    }
  };

  const assertPluginPath = (path: string, where: string) => {
    assert.equal(local(path), PLUGIN, `${where}: the plugin is /path/to/lnmsg/bin/lnmsg-plugin`);
    accessSync(PLUGIN, constants.X_OK);
  };

  async function lightningd(c: Command) {
    const options: Record<string, string> = {};
    for (const a of c.argv.slice(1)) {
      if (a === '...') continue;
      const m = /^--([\w-]+)=(.*)$/.exec(a);
      assert.ok(m, `${c.source}: ${a} is not --name=value`);
      if (m[1] === 'plugin') assertPluginPath(m[2] as string, c.source);
      else options[m[1] as string] = m[2] as string;
    }
    await assertOptionsTaken(options, c.source);
  }

  /** lightningd's own `plugin` command, by its rules (lightningd/plugin_control.c). */
  async function pluginCommand(params: unknown[] | Record<string, unknown>, where: string) {
    if (Array.isArray(params)) {
      assert.ok(params.length <= 2, `${where}: lightningd answers "Extra parameters must be in object"`);
      params = { subcommand: params[0], plugin: params[1] };
    }
    const { subcommand, plugin, ...options } = params as Record<string, unknown>;
    if (subcommand === 'start') {
      assertPluginPath(String(plugin), where);
      await assertOptionsTaken(options, where);
    } else if (subcommand === 'stop') {
      assert.ok(
        [PLUGIN, basename(PLUGIN)].includes(local(String(plugin))),
        `${where}: stop names the plugin`,
      );
      assert.deepEqual(options, {}, `${where}: stop takes no options`);
    } else assert.fail(`${where}: plugin ${String(subcommand)} is not shown by the README`);
  }

  async function lightningCli(c: Command) {
    const { method, params } = lightningCliRequest(c.argv.slice(1));
    if (method === 'plugin') return pluginCommand(params, c.source);
    assert.ok(
      manifest().rpcmethods.some((m) => m.name === method),
      `${c.source}: ${method} is neither lnmsg's nor shown here`,
    );
    const hashUsed = JSON.stringify(params).includes('5e1a...');
    let hash: string | undefined;
    let held: Promise<PluginMessage> | undefined;
    if (hashUsed && ['receivemessage_accept', 'receivemessage_reject'].includes(method)) {
      const h = await heldHash();
      hash = h.hash;
      held = h.answer;
    } else if (hashUsed && method === 'sendmessage') hash = recordedPayment().hash;
    else if (hashUsed && method === 'sendmessage_delete') {
      // Something sent to forget: the recorded payment, sent afresh.
      const { destination, hash: paid } = recordedPayment();
      hash = paid;
      await node.call('sendmessage_delete', { payment_hash: paid });
      await node.result('sendmessage', {
        destination,
        payment_hash: paid,
        amount_msat: 5000,
        message: 'sent for the README',
      });
    } else if (hashUsed) hash = await storedHash();
    const sub = (v: unknown) => (typeof v === 'string' ? (placeholders([v], hash)[0] as string) : v);
    const real = Array.isArray(params)
      ? params.map(sub)
      : Object.fromEntries(Object.entries(params).map(([k, v]) => [k, sub(v)]));
    // Each send replays the one recorded payment: the outbox forgets it in between, as the fake does.
    if (method === 'sendmessage' && hash) await node.call('sendmessage_delete', { payment_hash: hash });
    const answer = node.call(method, real);
    // Waiting for the next message of any kind: one arrives.
    if (method === 'receivemessage_wait' && !hashUsed) await storedHash();
    const { error } = await answer;
    assert.equal(error, undefined, `${c.source}: ${JSON.stringify(error)}`);
    await held;
  }

  /** Runs `args` (connection options already in) in the work directory; stdin closed. */
  const run = (args: string[], pipe: string[][] = []): ChildProcess => {
    if (pipe.length === 0)
      return spawn(process.execPath, [LNMSG, ...args], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    const quoted = (w: string[]) => w.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    const line = [quoted([process.execPath, LNMSG, ...args]), ...pipe.map(quoted)].join(' | ');
    return spawn('bash', ['-c', `set -o pipefail; ${line}`], {
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  };

  const NO_NODE = new Set(['demo', 'capacity', 'help']);
  const PIPE_READERS = new Set(['head', 'less', 'jq']);

  async function lnmsgCommand(c: Command, words: string[]) {
    for (const p of c.pipe) assert.ok(PIPE_READERS.has(p[0] as string), `${c.source}: piped into ${p[0]}`);
    // Connection options stand for a node: here, the fake lightningd's socket.
    const args: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i] as string;
      if (w === '...') continue;
      if (['--lightning-dir', '--network', '--rpc-file'].includes(w)) i++;
      else args.push(w);
    }
    const sub = args.find((a) => !a.startsWith('-'));
    if (sub === undefined || NO_NODE.has(sub) || args.includes('--help')) {
      const out = output(run(args, c.pipe));
      assert.equal(await out.done, 0, `${c.source}: ${out.stderr()}`);
      return;
    }
    if (sub === 'send' && !args.includes('--destination')) return sendAsked(c, args);
    let held: { hash: string; answer: Promise<PluginMessage> } | undefined;
    if (sub === 'accept' || sub === 'reject') held = await heldHash();
    const hash = held?.hash ?? (sub === 'send' ? recordedPayment().hash : undefined);
    // The page listens until stopped: on any free port here, so tests never collide.
    const served =
      sub === 'web'
        ? [...args.filter((a, i) => a !== '--port' && args[i - 1] !== '--port'), '--port', '0']
        : args;
    const child = run(['--rpc-file', node.fake.socketPath, ...placeholders(served, hash)], c.pipe);
    const out = output(child);
    if (sub === 'web') {
      await until(out, child, /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-zA-Z_-]+/);
      const url = (
        /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-zA-Z_-]+/.exec(out.text()) as RegExpExecArray
      )[0];
      const page = await fetch(url, { redirect: 'manual' });
      assert.ok(page.status === 200 || page.status === 303, `${c.source}: ${page.status}`);
      child.kill('SIGINT');
      await out.done;
    } else if (sub === 'receive') {
      await until(out, child, /[0-9a-f]{64}/);
      const paid = (
        /(?:payment hash: |"payment_hash":")([0-9a-f]{64})/.exec(out.text()) as RegExpExecArray
      )[1];
      const answer = deliver(node, paid as string, utf8.encode('paid for the README'));
      assert.equal(await out.done, 0, `${c.source}: ${out.text()}`);
      // Without a terminal `receive --hold` leaves the payment held: settle it.
      if (args.includes('--hold')) await node.result('receivemessage_accept', { payment_hash: paid });
      await answer;
    } else if (sub === 'watch') {
      await until(out, child, /waiting for new messages/);
      await deliver(node, await newHash(), utf8.encode('watched for the README'));
      await until(out, child, /watched for the README/);
      child.kill('SIGINT');
      await out.done;
    } else {
      assert.equal(await out.done, 0, `${c.source}: ${out.text()}`);
      await held?.answer;
    }
  }

  /** `lnmsg send` with what is missing asked for on a terminal: answered with the recorded payment's. */
  async function sendAsked(c: Command, args: string[]) {
    const { destination, hash } = recordedPayment();
    const child = lnmsg(node.fake.socketPath, args, true);
    const out = output(child);
    const answers: [RegExp, string][] = [
      [/Payee node id/, destination],
      ...(args.includes('--keysend') ? [] : [[/Payment hash/, hash] as [RegExp, string]]),
      [/Amount in msat/, '1000'],
      [/Message/, 'typed for the README'],
    ];
    for (const [question, answer] of answers) {
      await until(out, child, question);
      child.stdin?.write(`${answer}\r`);
    }
    assert.equal(await out.done, 0, `${c.source}: ${out.text().slice(-300)}`);
  }

  /** npm commands are checked for form, not run: they would reinstall this checkout. */
  function npm(c: Command) {
    const [, sub, ...rest] = c.argv;
    const flags = rest.filter((a) => a.startsWith('-'));
    const targets = rest.filter((a) => !a.startsWith('-'));
    const only = (allowed: string[]) =>
      flags.forEach((f) => assert.ok(allowed.includes(f), `${c.source}: npm ${sub} ${f}`));
    switch (sub) {
      case 'ci':
      case 'prune':
        only(['--omit=dev']);
        assert.deepEqual(targets, [], c.source);
        return;
      case 'test':
      case 'link':
      case 'pack':
        assert.deepEqual(rest, [], c.source);
        return;
      case 'install':
        only(['-g', '--global']);
        // The file `npm pack` makes: name and version as package.json has them now.
        for (const t of targets) assert.equal(t, `./${PKG.name}-${PKG.version}.tgz`, c.source);
        return;
      case 'run': {
        const [script, dashes, ...args] = rest;
        assert.ok(script && PKG.scripts[script], `${c.source}: package.json has no script ${script}`);
        if (dashes !== undefined) assert.equal(dashes, '--', c.source);
        if (script === 'test:e2e')
          for (const name of args)
            assert.ok(
              existsSync(join(projectRoot, 'e2e', `${name}.test.ts`)),
              `${c.source}: no e2e suite ${name}`,
            );
        return;
      }
      default:
        assert.fail(`${c.source}: npm ${sub} is not a command this test knows`);
    }
  }

  async function shellCommand(c: Command) {
    const [tool, ...args] = c.argv;
    for (const name of Object.keys(c.env)) assert.ok(['CLN_BIN'].includes(name), `${c.source}: ${name}=`);
    if (c.pipe.length > 0) assert.ok(tool === 'lnmsg', `${c.source}: only lnmsg is shown piped`);
    switch (tool) {
      case 'lnmsg':
      case './bin/lnmsg':
        return lnmsgCommand(c, args);
      case 'lightning-cli':
        return lightningCli(c);
      case 'lightningd':
        return lightningd(c);
      case 'npm':
        return npm(c);
      case 'cd':
        assert.ok(statSync(local(args[0] as string)).isDirectory(), c.source);
        return;
      case 'git':
        assert.deepEqual(args, ['pull'], c.source);
        return;
      default:
        assert.fail(`${c.source}: a README command this test cannot classify (${tool})`);
    }
  }

  async function configLines(text: string, line: number) {
    const options: Record<string, string> = {};
    for (const l of text.split('\n')) {
      if (l.trim() === '' || l.startsWith('#')) continue;
      const m = /^([\w-]+)=(.+)$/.exec(l);
      assert.ok(m, `README.md:${line}: ${l} is not name=value`);
      if (m[1] === 'plugin') assertPluginPath(m[2] as string, l);
      else options[m[1] as string] = m[2] as string;
    }
    await assertOptionsTaken(options, `README.md:${line}`);
  }

  function systemdLines(text: string, line: number) {
    for (const l of text.split('\n')) {
      if (/^\[\w+\]$/.test(l)) continue;
      const m = /^Environment=PATH=(.+)$/.exec(l);
      assert.ok(m, `README.md:${line}: ${l}: only a PATH is shown`);
      for (const dir of (m[1] as string).split(':')) assert.match(dir, /^\//, `README.md:${line}: ${dir}`);
    }
  }

  test('README.md: each command runs, or is checked, as its program would take it', async () => {
    const found = readmeCommands(README);
    assert.ok(found.length > 0);
    for (const f of found) {
      if (f.kind === 'config') await configLines(f.text, f.line);
      else if (f.kind === 'systemd') systemdLines(f.text, f.line);
      else
        for (const c of shellCommands(f.text)) {
          await shellCommand(c);
          checked.push(c.argv[0] as string);
        }
    }
    // Extraction found each kind of command the README shows.
    for (const tool of ['lnmsg', './bin/lnmsg', 'lightning-cli', 'lightningd', 'npm'])
      assert.ok(checked.includes(tool), `no ${tool} command found`);
    assert.ok(found.some((f) => f.kind === 'config'));
  });

  test('what is no command must say why, and an unknown block fails', () => {
    assert.throws(() => readmeCommands('<!-- not a command -->\n\n```sh\nfoo\n```\n'), /say why/);
    assert.deepEqual(readmeCommands('<!-- not a command: a file -->\n\n```sh\nfoo\n```\n'), []);
    assert.deepEqual(readmeCommands('```text\nfoo\n```\n'), []);
    assert.throws(() => readmeCommands('```python\nprint(1)\n```\n'), /neither a command nor marked/);
    assert.deepEqual(
      readmeCommands('run `lnmsg inbox | head -1` or\n`npm run\nbench`, not `lnmsg-tlv-type`').map(
        (f) => f.text,
      ),
      ['lnmsg inbox | head -1', 'npm run bench'],
    );
  });

  test('shell words and lightning-cli parameters are split as sh and lightning-cli do', () => {
    assert.deepEqual(shellCommands(`A=1 lnmsg x "a b" 'c\\d' # note\nnpm ci && npm prune --omit=dev`), [
      {
        env: { A: '1' },
        argv: ['lnmsg', 'x', 'a b', 'c\\d'],
        pipe: [],
        source: `A=1 lnmsg x "a b" 'c\\d' # note`,
      },
      { env: {}, argv: ['npm', 'ci'], pipe: [], source: 'npm ci && npm prune --omit=dev' },
      { env: {}, argv: ['npm', 'prune', '--omit=dev'], pipe: [], source: 'npm ci && npm prune --omit=dev' },
    ]);
    assert.deepEqual(shellCommands('lnmsg inbox | head -1')[0]?.pipe, [['head', '-1']]);
    // As recorded from lightning-cli v26.06 (rpc-passthrough.jsonl): "42" is sent as a number.
    assert.deepEqual(lightningCliRequest(['recorder-echo', 'hello', '42']), {
      method: 'recorder-echo',
      params: ['hello', 42],
    });
    assert.deepEqual(lightningCliRequest(['-k', 'recorder-echo', 'text=hello', 'number=42']), {
      method: 'recorder-echo',
      params: { text: 'hello', number: 42 },
    });
    assert.deepEqual(lightningCliRequest(['x', 'a=1']).params, { a: 1 }, 'keywords guessed from the first');
    assert.deepEqual(lightningCliRequest(['x', 'true', '[1]', '"7"']).params, [true, [1], '7']);
    assert.throws(() => lightningCliRequest(['-k', 'x', 'a']), /key=value/);
  });
});
