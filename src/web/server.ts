import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import {
  type LightningRpc,
  RpcConnectionError,
  RpcError,
  RpcReplyError,
  UNKNOWN_COMMAND,
} from '../cln/rpc.js';
import { LiveFeed } from './events.js';
import { capacity, describeError, newestFirst, type Row } from './lightningd.js';

/** Sent with every answer: the page loads nothing but its own files, and no other site may frame it. */
export const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
} as const;

/** Largest request body read; a 64 KiB message, JSON-escaped, fits. */
export const MAX_BODY_BYTES = 256 * 1024;

/** The page's own files, read once from beside this module (the build copies them into dist). */
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Request {
  url: URL;
  body: unknown;
  res: ServerResponse;
}

/** A route's answer: a value sent as JSON, or undefined when the handler answered itself. */
type Handler = (r: Request) => unknown;

const Hash = z.string().regex(/^[0-9a-fA-F]{64}$/, 'a payment hash is 64 hex characters');
const Decision = z.object({ payment_hash: Hash, reason: z.string().optional() });
const Send = z.object({
  bolt11: z.string().trim().optional(),
  destination: z.string().trim().optional(),
  payment_hash: Hash.optional(),
  amount_msat: z.number().int().positive().optional(),
  message: z.string().min(1, 'the message is empty'),
  sign: z.boolean(),
});

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new HttpError(400, `${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'not understood'}`);
}

/** A whole number from the query string, or undefined when absent. */
function queryNumber(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new HttpError(400, `${name}: a whole number`);
  return Number(v);
}

export interface WebServer {
  /** The page's address with the access token, as printed. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the inbox page for the node behind `rpc` on `host`:`port` (0: any free port). Every
 * request must name this server in its Host (loopback, or `host`, on its own port: another name
 * is DNS rebinding) and carry the access token. Only the page's first load carries the token in
 * the URL; it gets it back as an HttpOnly SameSite=Strict cookie (named after the port: cookies do
 * not tell ports apart) and is redirected to drop it from the address bar.
 */
export async function startWeb(o: { rpc: LightningRpc; host: string; port: number }): Promise<WebServer> {
  const token = randomBytes(24).toString('base64url');
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const tokenDigest = digest(token);
  // Digests have one length, so the comparison takes the same time whatever was sent.
  const isToken = (s: string | null | undefined) => s != null && timingSafeEqual(digest(s), tokenDigest);
  const files = Object.fromEntries(
    Object.entries(STATIC).map(([path, f]) => [
      path,
      readFileSync(new URL(`./static/${f.file}`, import.meta.url)),
    ]),
  );
  const feed = new LiveFeed(o.rpc);
  let cookieName = '';
  /** The Host values this server answers to, once it listens; its page's origins are these. */
  let hosts: string[] = [];

  const decide = async (method: string, params: Record<string, unknown>) => {
    await o.rpc.call(method, params);
    const m = await o.rpc.call<Row>('receivemessage_poll', { payment_hash: params.payment_hash });
    feed.announce(m);
    return m;
  };

  const routes: Record<string, { GET?: Handler; POST?: Handler }> = {
    '/api/events': { GET: ({ res }) => feed.subscribe(res) },
    '/api/messages': {
      GET: ({ url }) => newestFirst(o.rpc, 'receivemessage_list', queryNumber(url, 'before')),
    },
    '/api/outbox': {
      GET: ({ url }) =>
        newestFirst(o.rpc, 'sendmessage_list', queryNumber(url, 'before')).catch((e: unknown) => {
          if (e instanceof RpcError && e.code === UNKNOWN_COMMAND) return { unsupported: true };
          throw e;
        }),
    },
    '/api/capacity': {
      GET: ({ url }) =>
        capacity(o.rpc, {
          destination: url.searchParams.get('destination')?.trim() || undefined,
          bolt11: url.searchParams.get('bolt11')?.trim() || undefined,
          amountMsat: queryNumber(url, 'amount_msat'),
          keysend: url.searchParams.get('keysend') === '1',
          sign: url.searchParams.get('sign') === '1',
        }),
    },
    '/api/send-status': {
      GET: ({ url }) =>
        o.rpc.call('sendmessage_status', {
          payment_hash: parse(Hash, url.searchParams.get('payment_hash')),
        }),
    },
    '/api/accept': {
      POST: ({ body }) =>
        decide('receivemessage_accept', { payment_hash: parse(Decision, body).payment_hash }),
    },
    '/api/reject': {
      POST: ({ body }) => {
        const d = parse(Decision, body);
        return decide('receivemessage_reject', {
          payment_hash: d.payment_hash,
          ...(d.reason ? { reason: d.reason } : {}),
        });
      },
    },
    '/api/send': {
      POST: ({ body }) => {
        const s = parse(Send, body);
        const amount = s.amount_msat === undefined ? {} : { amount_msat: s.amount_msat };
        // An invoice goes as it is: lnmsg versions that cannot pay one say so, and the page shows it.
        if (s.bolt11)
          return o.rpc.call('sendmessage', { bolt11: s.bolt11, ...amount, message: s.message, sign: s.sign });
        if (!s.destination) throw new HttpError(400, 'give an invoice, or a node id and an amount');
        if (s.amount_msat === undefined) throw new HttpError(400, 'amount_msat: give an amount in msat');
        return o.rpc.call('sendmessage', {
          destination: s.destination,
          ...(s.payment_hash ? { payment_hash: s.payment_hash } : {}),
          ...amount,
          message: s.message,
          sign: s.sign,
        });
      },
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!hosts.includes(req.headers.host ?? ''))
      throw new HttpError(
        421,
        `this page answers only as ${hosts.slice(0, -1).join(', ')} or ${hosts.at(-1)} (the Host header): open the URL lnmsg web printed`,
      );
    const cookie = (req.headers.cookie ?? '')
      .split(';')
      .map((c) => c.trim().split('='))
      .find(([name]) => name === cookieName)?.[1];
    const file = STATIC[url.pathname];
    // Only the page's first load carries the token in the URL, to trade it for the cookie.
    const fromQuery = file && req.method === 'GET' ? url.searchParams.get('token') : null;
    if (!isToken(cookie) && !isToken(fromQuery))
      throw new HttpError(401, 'the access token is missing or wrong: open the URL lnmsg web printed');
    const route = routes[url.pathname];
    const allowed = file ? ['GET'] : Object.keys(route ?? {});
    if (allowed.length === 0) throw new HttpError(404, `nothing at ${url.pathname}`);
    if (!allowed.includes(req.method ?? '')) {
      res.setHeader('Allow', allowed.join(', '));
      throw new HttpError(405, `${req.method} is not allowed here`);
    }
    if (file) {
      if (fromQuery !== null) {
        res.writeHead(303, {
          Location: url.pathname,
          'Set-Cookie': `${cookieName}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        });
        return res.end();
      }
      res.writeHead(200, { 'Content-Type': file.type });
      return res.end(files[url.pathname]);
    }
    const handler = route?.[req.method as 'GET' | 'POST'] as Handler;
    let body: unknown;
    if (req.method === 'POST') {
      // A page of this server sends no Origin or its own; anything else is another site's script.
      if (req.headers.origin !== undefined && !hosts.some((h) => req.headers.origin === `http://${h}`))
        throw new HttpError(403, 'requests from other sites are refused');
      body = await readJson(req);
    }
    const value = await handler({ url, body, res });
    if (value === undefined) return; // answered as a stream
    sendJson(res, 200, value);
  };

  // Without a Host, the request is refused below with the others, in JSON.
  const server = createServer({ requireHostHeader: false }, (req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    handle(req, res).catch((e: unknown) => {
      const status =
        e instanceof HttpError
          ? e.status
          : e instanceof RpcConnectionError
            ? 503
            : e instanceof RpcError || e instanceof RpcReplyError
              ? 502
              : 500;
      if (res.headersSent) return res.destroy();
      sendJson(res, status, { error: e instanceof HttpError ? e.message : describeError(e) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (e: Error) => {
      feed.close();
      o.rpc.close();
      reject(e);
    };
    server.once('error', failed);
    server.listen(o.port, o.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  cookieName = `lnmsg_web_${port}`;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  // The address it was started on too, so the URL printed works: a name or address the operator chose.
  hosts = [...new Set(['127.0.0.1', 'localhost', '[::1]', host])].map((h) => `${h}:${port}`);
  return {
    url: `http://${host}:${port}/?token=${token}`,
    port,
    close: async () => {
      feed.close();
      o.rpc.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(value));
}

/**
 * The body of a POST as JSON. Only JSON is taken: a form on another site cannot send it, and a
 * script there cannot without a CORS preflight, which nothing here answers.
 */
async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
    throw new HttpError(415, 'send the request as JSON (Content-Type: application/json)');
  // Read to the end, keeping at most the cap, so the client hears the answer before the connection is reused.
  const { bytes, size } = await new Promise<{ bytes: Buffer; size: number }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve({ bytes: Buffer.concat(chunks), size }));
    req.on('error', reject);
  });
  if (size > MAX_BODY_BYTES) throw new HttpError(413, `the request is larger than ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON');
  }
}
