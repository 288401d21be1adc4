import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { ReceivedMessage } from '../store/messages.js';
import { messageView } from './format.js';
import { Limiter } from './limiter.js';
import type { Decision } from './message-set.js';

/** Decides one message by `deadline` (ms since epoch). Never rejects: every failure is a refusal. */
export type Decider = (m: ReceivedMessage, deadline: number) => Promise<Decision>;

export interface DeciderLimits {
  /** Longest one run may take, in ms (less if the message's deadline is nearer). */
  timeoutMs: number;
  /** Most runs at once; the rest wait for a slot until their deadline. */
  concurrency: number;
}

/** Bytes read of a command's stdout or stderr, or of a URL's answer: enough for a reason, bounded memory. */
const OUTPUT_CAP = 4096;
/** A reason is the first line of the output, at most this many bytes of it. */
const REASON_BYTES = 200;
/**
 * After the shell exits and its group is killed, the pipes close at once; this bounds the wait for
 * the output already written in case something left the group (setsid) and still holds a pipe.
 */
const DRAIN_MS = 200;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Why `url` may not be used as a decider, or undefined if it may: only this machine is asked. */
export function deciderUrlProblem(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return `lnmsg-decide-url ${url}: not http(s)`;
    if (!LOOPBACK.has(u.hostname))
      return `lnmsg-decide-url ${url}: must be on this machine (127.0.0.1, localhost, [::1])`;
    return undefined;
  } catch {
    return `lnmsg-decide-url ${JSON.stringify(url)} is not a URL`;
  }
}

/**
 * Runs `/bin/sh -c command` with the message as JSON on stdin: exit status 0 settles, anything else
 * refuses with the first line of its output as the reason.
 */
export function commandDecider(command: string, limits: DeciderLimits): Decider {
  return limited(limits, (m, ms) => runCommand(command, JSON.stringify(messageView(m)), ms));
}

/** POSTs the message as JSON to a local URL: a 2xx answer settles, anything else refuses. */
export function urlDecider(url: string, limits: DeciderLimits): Decider {
  return limited(limits, (m, ms) => askUrl(url, JSON.stringify(messageView(m)), ms));
}

const LINE_BREAKS = /[\n\r\v\f\u0085\u2028\u2029]+/g;

/** Reasons are shown to operators on one line. */
const refuse = (reason: string): Decision => ({ accept: false, reason: reason.replace(LINE_BREAKS, ' ') });
const seconds = (ms: number) => `${Math.round(ms) / 1000}s`;

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  const own = e.message || (typeof code === 'string' ? code : e.name);
  // fetch says only "fetch failed"; its cause says why (e.g. connect ECONNREFUSED).
  return e.cause === undefined ? own : `${own}: ${errorText(e.cause)}`;
}

/** One run at a time per slot, each cut short at its timeout or the message's deadline, whichever is sooner. */
function limited(limits: DeciderLimits, run: (m: ReceivedMessage, ms: number) => Promise<Decision>): Decider {
  if (!(limits.timeoutMs > 0)) throw new RangeError(`decider timeout must be positive: ${limits.timeoutMs}`);
  const slots = new Limiter(limits.concurrency);
  return async (m, deadline) => {
    try {
      const release = await slots.acquire(deadline);
      if (!release) return refuse('no decider slot free before the deadline');
      try {
        const ms = Math.min(limits.timeoutMs, deadline - Date.now());
        if (!(ms > 0)) return refuse('the deadline passed before the decider ran');
        return await run(m, ms);
      } finally {
        release();
      }
    } catch (e) {
      return refuse(`decider failed: ${errorText(e)}`);
    }
  };
}

/** The first non-blank line of `bytes`, cut to REASON_BYTES without splitting a character. */
function firstLine(bytes: Buffer): string {
  const line = bytes.toString('utf8').trim().split(LINE_BREAKS, 1)[0] ?? '';
  let out = '';
  let size = 0;
  for (const ch of line) {
    size += Buffer.byteLength(ch);
    if (size > REASON_BYTES) break;
    out += ch;
  }
  return out.trimEnd();
}

/**
 * Keeps the first OUTPUT_CAP bytes of `s`, then destroys it: a command that goes on writing gets
 * SIGPIPE/EPIPE and ends, instead of filling our memory or keeping the event loop busy reading.
 */
function capture(s: Readable) {
  const kept = Buffer.alloc(OUTPUT_CAP);
  let size = 0;
  s.on('data', (d: Buffer) => {
    size += d.copy(kept, size);
    if (size >= OUTPUT_CAP) s.destroy();
  });
  // A failing pipe only ends what we read; the exit status still decides.
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
  return { closed, firstLine: () => firstLine(kept.subarray(0, size)) };
}

function runCommand(command: string, input: string, ms: number): Promise<Decision> {
  return new Promise((resolve) => {
    // Detached: the shell leads its own process group, so everything it started can be killed at once.
    const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = capture(child.stdout);
    const err = capture(child.stderr);
    const end = Date.now() + ms;
    let done = false;
    const finish = (d: Decision) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdin.destroy();
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(d);
    };
    const killGroup = () => {
      if (!child.pid) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is already gone. Nothing else can be done about a group we may not kill.
      }
    };
    let timer = setTimeout(() => {
      killGroup();
      finish(refuse(`decide command gave no answer within ${seconds(ms)}`));
    }, ms);
    child.on('error', (e) => finish(refuse(`decide command failed: ${e.message}`)));
    child.on('exit', (code, signal) => {
      if (done) return; // timed out: the group is already killed
      // What the shell left running (`sleep 100 &`) would outlive us and hold our pipes open: the
      // answer is the shell's exit status, so its group goes with it.
      killGroup();
      const answer = () =>
        finish(
          code === 0
            ? { accept: true }
            : refuse(
                out.firstLine() ||
                  err.firstLine() ||
                  (signal ? `decide command killed by ${signal}` : `decide command exited ${code}`),
              ),
        );
      // 'exit' can come before the last output is read: wait for the pipes to close, briefly.
      clearTimeout(timer);
      timer = setTimeout(answer, Math.max(0, Math.min(DRAIN_MS, end - Date.now())));
      void Promise.all([out.closed, err.closed]).then(answer);
    });
    // A command that does not read its input closes stdin early: EPIPE is no failure.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

async function askUrl(url: string, body: string, ms: number): Promise<Decision> {
  const signal = AbortSignal.timeout(ms);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      redirect: 'manual',
      signal,
    });
  } catch (e) {
    if (signal.aborted) return refuse(`decide URL gave no answer within ${seconds(ms)}`);
    return refuse(`decide URL failed: ${errorText(e)}`);
  }
  if (res.ok || (res.status >= 300 && res.status < 400)) {
    await res.body?.cancel().catch(() => {});
    // Only this machine is asked (deciderUrlProblem); a redirect could point anywhere.
    return res.ok
      ? { accept: true }
      : refuse(`decide URL answered ${res.status}: redirects are not followed`);
  }
  return refuse(firstLine(await readCapped(res.body)) || `decide URL answered ${res.status}`);
}

/** The first OUTPUT_CAP bytes of a body (or what arrived before it failed); the rest is never read. */
async function readCapped(body: ReadableStream<Uint8Array> | null): Promise<Buffer> {
  const kept = Buffer.alloc(OUTPUT_CAP);
  let size = 0;
  if (!body) return kept.subarray(0, 0);
  const reader = body.getReader();
  try {
    while (size < OUTPUT_CAP) {
      const { done, value } = await reader.read();
      if (done) break;
      size += Buffer.from(value.buffer, value.byteOffset, value.byteLength).copy(kept, size);
    }
  } catch {
    // Timed out or cut off mid-body: what arrived is still the best reason.
  }
  await reader.cancel().catch(() => {});
  return kept.subarray(0, size);
}
