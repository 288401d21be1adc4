import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { lightningCliRequest, local, README, readmeCommands, shellCommands } from '../test/support/readme.js';
import { Network, PLUGIN, until } from './support/network.js';

const run = promisify(execFile);

describe("the README's ways to load the plugin, on a real node started without it", () => {
  let net: Network;
  before(async () => {
    net = await Network.start(1, []);
  });
  after(() => net?.stop());

  const commands = readmeCommands(README)
    .filter((f) => f.kind === 'shell')
    .flatMap((f) => shellCommands(f.text))
    .filter((c) => c.argv[0] === 'lightning-cli' && lightningCliRequest(c.argv.slice(1)).method === 'plugin');
  const cli = (args: string[]) =>
    run(join(process.env.CLN_BIN as string, 'lightning-cli'), [
      `--lightning-dir=${net.nodeDir(1)}`,
      '--network=regtest',
      ...args.map(local),
    ]);
  const loaded = async () => {
    const { plugins } = await net.call<{ plugins: { name: string; active: boolean }[] }>(1, 'plugin', {
      subcommand: 'list',
    });
    return plugins.some((p) => p.name === PLUGIN && p.active);
  };

  test('each plugin start the README shows loads lnmsg, with its options; its plugin stop unloads it', async () => {
    const starts = commands.filter((c) => c.argv.includes('start') || c.argv.includes('subcommand=start'));
    const stop = commands.find((c) => c.argv.includes('stop'));
    assert.ok(starts.length >= 2 && stop, 'the README shows plugin start and stop');
    for (const start of starts) {
      await cli(start.argv.slice(1));
      assert.ok(await loaded(), start.source);
      for (const option of start.argv.filter((a) => a.startsWith('lnmsg-'))) {
        const [name, value] = option.split('=') as [string, string];
        const { configs } = await net.call<{
          configs: Record<string, { value_int?: number; value_str?: string }>;
        }>(1, 'listconfigs', { config: name });
        assert.equal(String(configs[name]?.value_int ?? configs[name]?.value_str), value, start.source);
      }
      await cli(stop.argv.slice(1));
      assert.equal(await loaded(), false, stop.source);
    }
  });

  test('options after a positional plugin start are refused, as the README says', async () => {
    // lightning-cli prints lightningd's error on stdout and exits 1.
    const refused = await cli(['plugin', 'start', PLUGIN, 'lnmsg-tlv-type=34349334']).then(
      () => assert.fail('accepted'),
      (e: { stdout: string }) => e.stdout,
    );
    assert.match(refused, /Extra parameters must be in object/);
    assert.equal(await loaded(), false);
  });

  test("the README's wrapper script naming node itself loads lnmsg", async () => {
    const script = /```sh\n(#!\/bin\/sh\n[^`]*)```/.exec(README)?.[1];
    assert.ok(script, 'the README shows the wrapper');
    const wrapper = join(net.dir, 'lnmsg-wrapper');
    // The README's node, /opt/node-v20.19.0/bin/node, is this one here.
    writeFileSync(wrapper, local(script).replace(/\/opt\/node-v[\d.]+\/bin\/node/, process.execPath), {
      mode: 0o755,
    });
    await cli(['plugin', 'start', wrapper]);
    const { plugins } = await net.call<{ plugins: { name: string; active: boolean }[] }>(1, 'plugin', {
      subcommand: 'list',
    });
    assert.ok(plugins.some((p) => p.name === wrapper && p.active));
    assert.ok(await net.call(1, 'receivemessage_list'));
    await cli(['plugin', 'stop', 'lnmsg-wrapper']);
  });

  test("the README's config lines load lnmsg at the node's next start", async () => {
    const config = readmeCommands(README).find((f) => f.kind === 'config');
    assert.ok(config);
    writeFileSync(join(net.nodeDir(1), 'config'), `${local(config.text)}\n`);
    await net.restart(1);
    // lightningd answers RPC before every plugin has answered init: wait for lnmsg's.
    await until('lnmsg loaded from the config file', loaded);
    const inbox = await run(process.execPath, [
      join(PLUGIN, '..', 'lnmsg'),
      '--lightning-dir',
      net.nodeDir(1),
      '--network',
      'regtest',
      'inbox',
    ]);
    assert.match(inbox.stdout, /no messages yet/);
  });
});
