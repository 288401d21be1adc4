import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rpc } from '../cln/rpc.js';
import { describeError, entriesAfter, highestIndex, type Row } from './lightningd.js';

/** How long one `receivemessage_wait` long poll lasts: status changes show at the latest after it. */
export const WAIT_SECONDS = 20;
/** Retry pauses after lightningd fails: from BACKOFF_MS, doubling, at most BACKOFF_MAX_MS. */
const BACKOFF_MS = 250;
const BACKOFF_MAX_MS = 5000;
/** A comment line this often keeps proxies and browsers from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

export type NodeState = { up: true; id: string; alias?: string } | { up: false; problem: string };

/**
 * The page's live feed: one long-poll loop against lightningd, whatever the number of pages
 * open, fanned out to each page's server-sent-events stream. Events: `node` (reachable or not,
 * and why) and `inbox` (a message, new or changed). A page that sees the node come up loads its
 * lists afresh, so whatever happened while it was down is shown.
 */
export class LiveFeed {
  private readonly streams = new Set<ServerResponse>();
  private state: NodeState = { up: false, problem: 'connecting to lightningd' };
  private readonly stop = new AbortController();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly rpc: Rpc) {
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), HEARTBEAT_MS);
    void this.loop();
  }

  /** Serves one page's stream until it goes away. */
  subscribe(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' });
    // The browser reconnects by itself after this many ms when the stream breaks.
    res.write(`retry: 2000\n\n${this.nodeEvent()}`);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
  }

  /** Tells every page about a message (a decision made here shows at once, not after the poll). */
  announce(m: Row): void {
    this.write(event('inbox', m));
  }

  /** Ends every stream; the loop stops at its next step (closing the RPC client ends its long poll). */
  close(): void {
    this.stop.abort();
    clearInterval(this.heartbeat);
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  private write(text: string): void {
    if (this.stop.signal.aborted) return;
    for (const res of this.streams) res.write(text);
  }

  private setState(state: NodeState): void {
    // A node that stays down is not news: each failed retry would say the same.
    if (!state.up && !this.state.up && state.problem === this.state.problem) return;
    this.state = state;
    this.write(this.nodeEvent());
  }

  /** The state, with this machine's clock in unix seconds: held messages' deadlines are in it. */
  private nodeEvent(): string {
    return event('node', { ...this.state, now: Date.now() / 1000 });
  }

  /**
   * Long-polls `receivemessage_wait`; after each answer (a message, or none in WAIT_SECONDS) sends
   * every message created or changed since the last look. A message stored between two polls is
   * therefore shown by the next look, not lost. Any failure marks the node down and starts over
   * after a pause that doubles each time.
   */
  private async loop(): Promise<void> {
    for (let failures = 0; !this.stop.signal.aborted;) {
      try {
        const info = await this.rpc.call<{ id: string; alias?: string }>('getinfo');
        let created = await highestIndex(this.rpc, 'receivemessage_list', 'created');
        let updated = await highestIndex(this.rpc, 'receivemessage_list', 'updated');
        this.setState({ up: true, id: info.id, alias: info.alias });
        failures = 0;
        while (!this.stop.signal.aborted) {
          await this.rpc.call('receivemessage_wait', { timeout: WAIT_SECONDS });
          created = await entriesAfter(this.rpc, 'created', created, (m) => this.announce(m));
          updated = await entriesAfter(this.rpc, 'updated', updated, (m) => this.announce(m));
        }
      } catch (e) {
        if (this.stop.signal.aborted) return;
        this.setState({ up: false, problem: describeError(e) });
        await sleep(Math.min(BACKOFF_MAX_MS, BACKOFF_MS * 2 ** failures++), undefined, {
          signal: this.stop.signal,
        }).catch(() => {});
      }
    }
  }
}

/** One server-sent event; JSON never holds a raw newline, so the data is one line. */
function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
