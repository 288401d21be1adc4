import { spawn } from 'node:child_process';
import type { ReceivedMessage } from '../store/messages.js';
import { messageView } from './format.js';
import type { Decision } from './receiver.js';

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

/** Runs `command` with the message as JSON on stdin: exit status 0 settles, anything else refuses. */
export function commandDecider(command: string, timeoutMs: number) {
  return (m: ReceivedMessage): Promise<Decision> =>
    new Promise((resolve) => {
      const child = spawn('/bin/sh', ['-c', command], {
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: timeoutMs,
      });
      let said = '';
      child.stdout.on('data', (d) => {
        said += d;
      });
      child.stderr.on('data', (d) => {
        said += d;
      });
      child.on('error', (e) => resolve({ accept: false, reason: `decide command failed: ${e.message}` }));
      child.on('close', (code) =>
        resolve(
          code === 0
            ? { accept: true }
            : {
                accept: false,
                reason: said.trim().split('\n')[0]?.slice(0, 200) || `decide command exited ${code}`,
              },
        ),
      );
      child.stdin.on('error', () => {});
      child.stdin.end(JSON.stringify(messageView(m)));
    });
}

/** POSTs the message as JSON to a local URL: a 2xx answer settles, anything else refuses. */
export function urlDecider(url: string, timeoutMs: number) {
  return async (m: ReceivedMessage): Promise<Decision> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(messageView(m)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.ok) return { accept: true };
    const body = (await res.text()).trim().slice(0, 200);
    return { accept: false, reason: body || `decide URL answered ${res.status}` };
  };
}
