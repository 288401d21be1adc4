import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { commandDecider, type DeciderLimits, urlDecider } from '../src/receive/decider.js';
import type { ReceivedMessage } from '../src/store/messages.js';

const message: ReceivedMessage = {
  paymentHash: '11'.repeat(32),
  messageHex: Buffer.from('swap?').toString('hex'),
  tlvType: 34349334,
  amountMsat: 1000,
  receivedAt: 1700000000,
  htlcs: [],
  status: 'held',
  spontaneous: false,
  createdIndex: 1,
};

const quick: DeciderLimits = { timeoutMs: 5000, concurrency: 4 };
const inAMinute = () => Date.now() + 60_000;
const decide = (command: string, limits = quick) => commandDecider(command, limits)(message, inAMinute());
const refusal = (reason: string) => ({ accept: false, reason });
/** node:test's own timeout: a guard so a hang fails the test rather than the run, not a timing assertion. */
const guard = { timeout: 10_000 };

/** Gone, or a zombie that only waits to be reaped (its parent may be an init that reaps late). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .startsWith('Z');
  } catch {
    return true;
  }
}

const pidIn = (file: string) => Number(readFileSync(file, 'utf8').trim());

/** Whether `pid` is gone within a few seconds: a SIGKILLed process takes a moment to die. */
async function dies(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && !gone(pid); i++) await sleep(50);
  return gone(pid);
}

describe('command decider', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lnmsg-decider-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('exit 0 settles', async () => {
    assert.deepEqual(await decide('cat >/dev/null; exit 0'), { accept: true });
  });

  test('exit 3 refuses with the first line of stdout', async () => {
    assert.deepEqual(await decide('echo "sold out"; echo more; exit 3'), refusal('sold out'));
  });

  test('the command gets the message as JSON on stdin', async () => {
    const got = join(dir, 'stdin.json');
    assert.deepEqual(await decide(`cat > '${got}'`), { accept: true });
    const seen = JSON.parse(readFileSync(got, 'utf8'));
    assert.deepEqual([seen.message, seen.payment_hash], ['swap?', message.paymentHash]);
  });

  test('with nothing on stdout, the first line of stderr is the reason', async () => {
    assert.deepEqual(await decide('echo "bad input" >&2; echo later >&2; exit 1'), refusal('bad input'));
  });

  test('with no output, the reason is the exit code or the signal', async () => {
    assert.deepEqual(await decide('exit 5'), refusal('decide command exited 5'));
    assert.deepEqual(await decide('kill -TERM $$'), refusal('decide command killed by SIGTERM'));
  });

  test('the reason is one line (a carriage return ends it) of at most 200 bytes, whole characters', async () => {
    assert.deepEqual(await decide("printf 'no\\rway'; exit 1"), refusal('no'));
    const long = await decide(`printf '${'é'.repeat(150)}'; exit 1`);
    assert.deepEqual(long, refusal('é'.repeat(100)));
  });

  test(
    'a command that floods stdout is refused with a bounded reason, long before its timeout',
    guard,
    async () => {
      const d = await decide(`yes "$(printf '%0300d' 0)"`, { timeoutMs: 20_000, concurrency: 1 });
      assert.equal(d.accept, false);
      assert.ok(!d.accept && d.reason.length <= 200);
      assert.deepEqual(d, refusal('0'.repeat(200)));
    },
  );

  for (const [tail, expected] of [
    ['exit 0', { accept: true }],
    ['echo busy; exit 1', refusal('busy')],
  ] as const) {
    test(
      `a forked child does not delay the answer (${tail}) and is killed with the shell`,
      guard,
      async () => {
        const pidFile = join(dir, 'child.pid');
        const d = await decide(`sleep 30 & echo $! > '${pidFile}'; ${tail}`, {
          timeoutMs: 20_000,
          concurrency: 1,
        });
        assert.deepEqual(d, expected);
        assert.ok(await dies(pidIn(pidFile)), 'the background sleep outlived the decider');
      },
    );
  }

  test('a command past its timeout is refused and its whole process group killed', guard, async () => {
    const shellFile = join(dir, 'shell.pid');
    const childFile = join(dir, 'child.pid');
    const d = await decide(`echo $$ > '${shellFile}'; sleep 10 & echo $! > '${childFile}'; sleep 10`, {
      timeoutMs: 500,
      concurrency: 1,
    });
    assert.deepEqual(d, refusal('decide command gave no answer within 0.5s'));
    assert.ok(await dies(pidIn(childFile)), 'the forked sleep outlived the timeout');
    assert.ok(await dies(pidIn(shellFile)), 'the shell outlived the timeout');
  });

  test('a deadline nearer than the timeout cuts the run short', guard, async () => {
    const d = await commandDecider('sleep 10', { timeoutMs: 20_000, concurrency: 1 })(
      message,
      Date.now() + 300,
    );
    assert.equal(d.accept, false);
    assert.match(!d.accept ? d.reason : '', /^decide command gave no answer within 0\.\d+s$/);
  });

  test('a command the shell cannot be given is refused, not thrown', async () => {
    const d = await decide('echo \0');
    assert.equal(d.accept, false);
    assert.match(!d.accept ? d.reason : '', /^decider failed: /);
  });

  const hasFlock = spawnSync('sh', ['-c', 'command -v flock']).status === 0;
  test(
    'no more runs at once than the concurrency',
    { ...guard, skip: !hasFlock && 'flock not found' },
    async () => {
      // Each run counts itself in under a lock (keeping the highest count), waits for `go`, counts itself out.
      writeFileSync(join(dir, 'count'), '0');
      writeFileSync(join(dir, 'max'), '0');
      writeFileSync(
        join(dir, 'run.sh'),
        [
          `cd '${dir}'`,
          `flock lock sh -c 'n=$(( $(cat count) + 1 )); echo $n > count; [ $n -gt $(cat max) ] && echo $n > max; true'`,
          'while [ ! -e go ]; do sleep 0.02; done',
          `flock lock sh -c 'echo $(( $(cat count) - 1 )) > count'`,
        ].join('\n'),
      );
      const decider = commandDecider(`sh '${join(dir, 'run.sh')}'`, { timeoutMs: 20_000, concurrency: 2 });
      const runs = Array.from({ length: 5 }, () => decider(message, inAMinute()));
      while (readFileSync(join(dir, 'count'), 'utf8').trim() !== '2') await sleep(20);
      writeFileSync(join(dir, 'go'), '');
      assert.deepEqual(await Promise.all(runs), Array(5).fill({ accept: true }));
      assert.equal(readFileSync(join(dir, 'max'), 'utf8').trim(), '2');
    },
  );

  test('waiting runs start in arrival order', guard, async () => {
    const decider = commandDecider(
      `read -r line; n=$(echo "$line" | sed 's/.*"label":"\\([a-z]*\\)".*/\\1/'); echo $n >> '${dir}/log'; ` +
        `while [ ! -e '${dir}/go' ]; do sleep 0.02; done`,
      { timeoutMs: 20_000, concurrency: 1 },
    );
    const runs = ['first', 'second', 'third'].map((label) => decider({ ...message, label }, inAMinute()));
    while (!existsSync(join(dir, 'log'))) await sleep(20);
    writeFileSync(join(dir, 'go'), '');
    await Promise.all(runs);
    assert.equal(readFileSync(join(dir, 'log'), 'utf8'), 'first\nsecond\nthird\n');
  });

  test(
    'a message whose deadline passes while waiting for a slot is refused and never runs',
    guard,
    async () => {
      const log = join(dir, 'log');
      const decider = commandDecider(
        `echo ran >> '${log}'; while [ ! -e '${dir}/go' ]; do sleep 0.02; done`,
        {
          timeoutMs: 20_000,
          concurrency: 1,
        },
      );
      const blocker = decider(message, inAMinute());
      while (!existsSync(log)) await sleep(20);
      const late = await decider(message, Date.now() + 200);
      assert.deepEqual(late, refusal('no decider slot free before the deadline'));
      writeFileSync(join(dir, 'go'), '');
      assert.deepEqual(await blocker, { accept: true });
      // Slots are handed out in order: had the refused run been queued anyway, it would come before this one.
      assert.deepEqual(await decider(message, inAMinute()), { accept: true });
      assert.equal(readFileSync(log, 'utf8'), 'ran\nran\n');
    },
  );

  test('bad limits are refused when the decider is made', () => {
    assert.throws(() => commandDecider('true', { timeoutMs: 1000, concurrency: 0 }), RangeError);
    assert.throws(() => commandDecider('true', { timeoutMs: 0, concurrency: 1 }), RangeError);
  });
});

describe('URL decider', () => {
  const servers: Server[] = [];
  /** A server on 127.0.0.1 that counts the requests it gets. */
  async function serve(handler: RequestListener) {
    const hits = { count: 0 };
    const server = createServer((req, res) => {
      hits.count++;
      handler(req, res);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/decide`, hits };
  }
  const ask = (url: string, limits = quick) => urlDecider(url, limits)(message, inAMinute());

  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  test('200 settles, and the message is POSTed as JSON', async () => {
    let seen: { message?: string } = {};
    const { url } = await serve((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen = JSON.parse(body);
        res.end('ok');
      });
    });
    assert.deepEqual(await ask(url), { accept: true });
    assert.equal(seen.message, 'swap?');
  });

  test('403 refuses with the first line of the body', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(403);
      res.end('nope\nx');
    });
    assert.deepEqual(await ask(url), refusal('nope'));
  });

  test('a redirect is refused and not followed', async () => {
    const elsewhere = await serve((_req, res) => res.end());
    const { url } = await serve((_req, res) => {
      res.writeHead(302, { location: elsewhere.url });
      res.end();
    });
    assert.deepEqual(await ask(url), refusal('decide URL answered 302: redirects are not followed'));
    assert.equal(elsewhere.hits.count, 0);
  });

  test('an endless 500 body is refused with a bounded reason', guard, async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(500);
      const more = () => {
        while (!res.destroyed && res.write('x'.repeat(1024)));
      };
      res.on('drain', more);
      more();
    });
    assert.deepEqual(await ask(url, { timeoutMs: 20_000, concurrency: 1 }), refusal('x'.repeat(200)));
  });

  test('a URL that does not answer in time is refused', guard, async () => {
    const { url } = await serve(() => {});
    assert.deepEqual(
      await ask(url, { timeoutMs: 300, concurrency: 1 }),
      refusal('decide URL gave no answer within 0.3s'),
    );
  });

  test('an unreachable URL is refused', async () => {
    const { url } = await serve(() => {});
    const s = servers.pop() as Server;
    await new Promise((resolve) => s.close(resolve));
    const d = await ask(url);
    assert.equal(d.accept, false);
    assert.match(!d.accept ? d.reason : '', /^decide URL failed: fetch failed: .*ECONNREFUSED/);
  });

  test('URL runs share the slot limit too', guard, async () => {
    let answer = () => {};
    const { url, hits } = await serve((_req, res) => (answer = () => res.end()));
    const decider = urlDecider(url, { timeoutMs: 20_000, concurrency: 1 });
    const first = decider(message, inAMinute());
    while (hits.count === 0) await sleep(20);
    assert.deepEqual(
      await decider(message, Date.now() + 200),
      refusal('no decider slot free before the deadline'),
    );
    answer();
    assert.deepEqual(await first, { accept: true });
    assert.equal(hits.count, 1);
  });
});
