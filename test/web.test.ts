import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { maxMessageBytes, paymentDataBytes, utf8 } from '../src/index.js';
import type { Rpc } from '../src/cln/rpc.js';
import { FINAL_CLTV } from '../src/send/message.js';
import { cltvBase } from '../src/send/route.js';
import { entriesAfter, highestIndex, newestFirst, PAGE } from '../src/web/lightningd.js';
import { SECURITY_HEADERS } from '../src/web/server.js';
import { errorLike, FIXTURES, resultLike, rpcRecord } from './support/fake-lightningd.js';
import { deliver } from './support/cli.js';
import { Node, PAID, recordedPayment } from './support/plugin-node.js';
import type { PluginMessage } from './support/plugin-process.js';
import { v26066Params, v26066Reply } from './support/recorded-v26066.js';
import { needsShared } from './support/shared.js';
import {
  http,
  needsChromium,
  openPage,
  type RunningWeb,
  startLnmsgWeb,
  textOf,
  waitForMatch,
  waitForText,
} from './support/web.js';

/** Pays a fresh lnmsg hash on `node` with `message` (a recorded-shape htlc_accepted); `answer` is the hook's. */
async function payFresh(
  node: Node,
  message: string | Uint8Array,
  o: { hold?: boolean; label?: string } = {},
): Promise<{ hash: string; answer: Promise<PluginMessage> }> {
  const hash = await node.result<string>('receivemessage_new', { amount_msat: 1000, ...o });
  const answer = deliver(node, hash, typeof message === 'string' ? utf8.encode(message) : message);
  return { hash, answer };
}

/** The CLTV value of a final payload the plugin (node 3) builds now: its height, + 1, + the final delta. */
const finalCltvValue = () =>
  cltvBase((rpcRecord('getinfo-n3').reply.result as { blockheight: number }).blockheight) + FINAL_CLTV;

const hookResult = async (answer: Promise<PluginMessage>) =>
  ((await answer).result as { result: string }).result;
const item = (hash: string) => `#inbox li[data-hash="${hash}"]`;

describe('the lists as the page reads them, newest first, over indexes with holes', () => {
  /** receivemessage_list over these created indexes: from `start`, at most `limit`, oldest first. */
  const listOf = (indexes: number[]): Rpc => ({
    call: async <T>(_method: string, p: unknown) => {
      const { start, limit } = p as { start: number; limit: number };
      const messages = indexes.filter((i) => i >= start).slice(0, limit);
      return { messages: messages.map((i) => ({ created_index: i })) } as T;
    },
  });
  const sets = [
    [],
    [1],
    [1, 2],
    [3],
    [1, 2, 5, 9, 10, 40, 41, 100],
    Array.from({ length: 70 }, (_, i) => i * 3 + 2),
  ];

  test('highestIndex finds the last index, whatever was deleted before it', async () => {
    for (const set of [...sets, [1, 100_000], [99_999, 100_000, 100_001]])
      assert.equal(await highestIndex(listOf(set), 'receivemessage_list', 'created'), set.at(-1) ?? 0);
  });

  test('newestFirst, window after window, gives every entry once, newest first', async () => {
    for (const set of sets) {
      const seen: number[] = [];
      let page = await newestFirst(listOf(set), 'receivemessage_list');
      for (;;) {
        assert.ok(page.messages.length <= PAGE);
        seen.push(...page.messages.map((m) => m.created_index));
        if (page.older === null) break;
        page = await newestFirst(listOf(set), 'receivemessage_list', page.older);
      }
      assert.deepEqual(seen, [...set].reverse());
    }
  });

  test('entriesAfter gives every entry above an index, oldest first, and the last index seen', async () => {
    for (const set of sets) {
      const seen: number[] = [];
      const last = await entriesAfter(listOf(set), 'created', 4, (m) => seen.push(m.created_index));
      assert.deepEqual(
        seen,
        set.filter((i) => i > 4),
      );
      assert.equal(last, Math.max(4, ...set));
    }
  });
});

describe('lnmsg web against the plugin, behind a fake lightningd', needsShared(...FIXTURES), () => {
  let node: Node;
  let web: RunningWeb;
  let dir: string;
  /** The --rpc-file lnmsg web uses: a link, so another fake can take the node's place. */
  let link: string;
  before(async () => {
    node = await Node.start();
    await node.startPlugin();
    node.serveClients();
    dir = mkdtempSync(join(tmpdir(), 'lnmsg-web-'));
    link = join(dir, 'lightning-rpc');
    symlinkSync(node.fake.socketPath, link);
    web = await startLnmsgWeb(['--rpc-file', link]);
  });
  after(async () => {
    await web?.stop();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const withToken = () => ({ Cookie: `${web.cookie}=${web.token}` });
  const post = (path: string, body: string | Buffer, headers: Record<string, string> = withToken()) =>
    http(`${web.origin}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
    });

  test('without the token, or with a wrong one, every request is answered 401, with the security headers', async () => {
    const wrong = { Cookie: `${web.cookie}=${'x'.repeat(web.token.length)}` };
    const answers = [
      await http(`${web.origin}/`),
      await http(`${web.origin}/?token=wrong`),
      await http(`${web.origin}/api/messages`, { headers: wrong }),
      await http(`${web.origin}/api/events`),
      await post('/api/accept', JSON.stringify({ payment_hash: '00'.repeat(32) }), {}),
      await post('/api/send', JSON.stringify({ destination: '02', message: 'x', sign: false }), wrong),
      await post('/api/reject', '{}', { Authorization: `Bearer ${web.token}` }),
    ];
    for (const a of answers) {
      assert.equal(a.status, 401, a.body);
      for (const [name, value] of Object.entries(SECURITY_HEADERS))
        assert.equal(a.headers[name.toLowerCase()], value);
      assert.equal(a.headers['access-control-allow-origin'], undefined, 'no CORS');
    }
    assert.match(
      answers[0]?.headers['content-security-policy'] as string,
      /^default-src 'none'; script-src 'self'; .*frame-ancestors 'none'; base-uri 'none'; form-action 'self'$/,
    );
  });

  test('the URL printed sets the token as an HttpOnly SameSite=Strict cookie and drops it from the address', async () => {
    const a = await http(web.url);
    assert.equal(a.status, 303);
    assert.equal(a.headers.location, '/');
    assert.deepEqual(a.headers['set-cookie'], [
      `${web.cookie}=${web.token}; HttpOnly; SameSite=Strict; Path=/`,
    ]);
    const page = await http(`${web.origin}/`, { headers: withToken() });
    assert.equal(page.status, 200);
    assert.match(page.body, /<script type="module" src="\/app.js"><\/script>/);
  });

  test('a Host other than 127.0.0.1, localhost or [::1] on its own port is refused before the token, on every route', async () => {
    // DNS rebinding: another site's name resolved to 127.0.0.1 reaches the server with its own Host.
    const hosts = [
      'evil.example',
      `evil.example:${web.port}`,
      `127.0.0.1:${web.port + 1}`,
      '127.0.0.1',
      'localhost',
    ];
    const sent: { headers: Record<string, string>; setHost?: boolean }[] = [
      ...hosts.flatMap((Host) => [{ ...withToken(), Host }, { Host }]).map((headers) => ({ headers })),
      { headers: withToken(), setHost: false },
    ];
    // The stream last: a server that let it in would not answer it to the end.
    const paths = [
      '/',
      '/app.js',
      web.url.slice(web.origin.length),
      '/api/messages',
      '/api/nothing',
      '/api/events',
    ];
    for (const o of sent) {
      // The attack as the review made it: the other site's script names itself as Origin and Host.
      const origin: Record<string, string> = o.headers.Host ? { Origin: `http://${o.headers.Host}` } : {};
      const answers = [
        () =>
          http(`${web.origin}/api/accept`, {
            ...o,
            method: 'POST',
            headers: { ...o.headers, ...origin, 'Content-Type': 'application/json' },
            body: '{}',
          }),
        ...paths.map((path) => () => http(`${web.origin}${path}`, o)),
      ];
      for (const answer of answers) {
        const a = await answer();
        assert.equal(a.status, 421, `${JSON.stringify(o)}: ${a.body}`);
        assert.equal(a.headers['set-cookie'], undefined);
        assert.equal(a.headers['content-security-policy'], SECURITY_HEADERS['Content-Security-Policy']);
        assert.match(
          JSON.parse(a.body).error,
          new RegExp(
            `^this page answers only as 127\\.0\\.0\\.1:${web.port}, localhost:${web.port} or \\[::1\\]:${web.port}`,
          ),
        );
      }
    }
    for (const Host of [`127.0.0.1:${web.port}`, `localhost:${web.port}`, `[::1]:${web.port}`])
      assert.equal(
        (await http(`${web.origin}/api/messages`, { headers: { ...withToken(), Host } })).status,
        200,
      );
  });

  test('started on another loopback address, the page answers as that address too, and as loopback', async () => {
    const other = await startLnmsgWeb(['--rpc-file', link], ['--host', '127.0.0.2']);
    try {
      assert.equal(other.origin, `http://127.0.0.2:${other.port}`);
      const headers = (Host: string) => ({ Cookie: `${other.cookie}=${other.token}`, Host });
      for (const host of ['127.0.0.2', '127.0.0.1', 'localhost', '[::1]'])
        assert.equal(
          (await http(`${other.origin}/api/messages`, { headers: headers(`${host}:${other.port}`) })).status,
          200,
        );
      const refused = await http(`${other.origin}/api/messages`, {
        headers: headers(`127.0.0.3:${other.port}`),
      });
      assert.equal(refused.status, 421);
      assert.match(
        JSON.parse(refused.body).error,
        new RegExp(`\\[::1\\]:${other.port} or 127\\.0\\.0\\.2:${other.port} \\(the Host header\\)`),
      );
    } finally {
      await other.stop();
    }
  });

  test('the token in the URL is taken only by the first load of the page; API routes take only the cookie', async () => {
    const query = `?token=${web.token}`;
    // The stream last: a server that let it in would not answer it to the end.
    const api = [
      () => http(`${web.origin}/api/messages${query}`),
      () => http(`${web.origin}/api/send-status${query}&payment_hash=${'00'.repeat(32)}`),
      () => post(`/api/accept${query}`, JSON.stringify({ payment_hash: '00'.repeat(32) }), {}),
      () => http(`${web.origin}/api/events${query}`),
    ];
    for (const answer of api) {
      const a = await answer();
      assert.equal(a.status, 401, a.body);
      assert.equal(a.headers['set-cookie'], undefined);
      assert.match(JSON.parse(a.body).error, /access token is missing or wrong/);
    }
    for (const path of ['/', '/app.js']) {
      const first = await http(`${web.origin}${path}${query}`);
      assert.equal(first.status, 303);
      assert.equal(first.headers.location, path);
      const [cookie] = (first.headers['set-cookie'] as string[])[0]?.split(';') ?? [];
      assert.equal(cookie, `${web.cookie}=${web.token}`);
      assert.equal(
        (await http(`${web.origin}/api/messages`, { headers: { Cookie: cookie as string } })).status,
        200,
      );
    }
  });

  test("a POST's Origin must be the page's own: 127.0.0.1, localhost or [::1] on its port, not whatever Host says", async () => {
    const accept = (Origin: string) => post('/api/accept', '{}', { ...withToken(), Origin });
    for (const origin of [
      'http://evil.example',
      `http://evil.example:${web.port}`,
      `http://127.0.0.1:${web.port + 1}`,
      `https://127.0.0.1:${web.port}`,
      'http://127.0.0.1',
      'null',
    ]) {
      const a = await accept(origin);
      assert.equal(a.status, 403, `${origin}: ${a.body}`);
      assert.match(JSON.parse(a.body).error, /other sites/);
    }
    // Past the Origin check, the empty body is what is refused.
    for (const origin of [
      `http://127.0.0.1:${web.port}`,
      `http://localhost:${web.port}`,
      `http://[::1]:${web.port}`,
    ]) {
      const a = await accept(origin);
      assert.equal(a.status, 400, `${origin}: ${a.body}`);
      assert.match(JSON.parse(a.body).error, /payment_hash/);
    }
  });

  test('bad requests get 400, 413, 415, 403, 404 or 405 with a sentence, and the server goes on', async () => {
    const cases: [Promise<{ status: number; body: string }>, number, RegExp][] = [
      [post('/api/accept', '{"payment_hash": '), 400, /not valid JSON/],
      [post('/api/accept', '{"payment_hash": "nope"}'), 400, /payment_hash: a payment hash is 64 hex/],
      [
        post('/api/send', JSON.stringify({ message: 'x'.repeat(300 * 1024), sign: true })),
        413,
        /larger than 262144/,
      ],
      [post('/api/accept', '{}', { ...withToken(), 'Content-Type': 'text/plain' }), 415, /as JSON/],
      [post('/api/accept', '{}', { ...withToken(), Origin: 'http://evil.example' }), 403, /other sites/],
      [http(`${web.origin}/api/nothing`, { headers: withToken() }), 404, /nothing at/],
      [http(`${web.origin}/api/accept`, { headers: withToken() }), 405, /GET is not allowed/],
      [http(`${web.origin}/`, { method: 'DELETE', headers: withToken() }), 405, /DELETE is not allowed/],
    ];
    for (const [answer, status, error] of cases) {
      const a = await answer;
      assert.equal(a.status, status, a.body);
      assert.match(JSON.parse(a.body).error, error);
    }
    assert.equal((await http(`${web.origin}/api/messages`, { headers: withToken() })).status, 200);
  });

  describe('in Chromium', needsChromium(), () => {
    let browser: Browser;
    let page: Page;
    let before1: string;
    before(async () => {
      const { hash, answer } = await payFresh(node, 'sent before the page opened');
      assert.equal(await hookResult(answer), 'resolve');
      before1 = hash;
      ({ browser, page } = await openPage(web.url));
    });
    after(() => browser?.close());

    test('a message received before the page opened is shown', async () => {
      await waitForText(page, `${item(before1)} pre.text`, 'sent before the page opened');
      assert.match(await textOf(page, `${item(before1)} .meta`), /1000 msat.*settled.*paid to a hash/);
    });

    test('a message received while the page is open appears without reloading', async () => {
      const { hash, answer } = await payFresh(node, 'arrived while you looked', { label: 'order-7' });
      assert.equal(await hookResult(answer), 'resolve');
      await waitForText(page, `${item(hash)} pre.text`, 'arrived while you looked');
      assert.equal(await textOf(page, `${item(hash)} .label`), 'label: order-7');
      // Newest first.
      assert.equal(await page.$eval('#inbox li', (li) => li.getAttribute('data-hash')), hash);
    });

    test('markup and a javascript: URL in a message or label are shown as text and run nothing', async () => {
      const hostile =
        '<img src=x onerror=window.__pwned=1> <a href="javascript:alert(1)">javascript:alert(1)</a>';
      const { hash, answer } = await payFresh(node, hostile, {
        label: '<b onmouseover=window.__pwned=2>x</b>',
      });
      assert.equal(await hookResult(answer), 'resolve');
      await waitForText(page, `${item(hash)} pre.text`, hostile);
      assert.equal(
        await textOf(page, `${item(hash)} .label`),
        'label: <b onmouseover=window.__pwned=2>x</b>',
      );
      assert.equal(await page.evaluate('window.__pwned'), undefined);
      assert.equal((await page.$$('#inbox img')).length, 0);
      assert.equal((await page.$$('#inbox a')).length, 0);
      assert.equal((await page.$$('#inbox b')).length, 0);
    });

    test('a binary message is shown as hex, a 64 KiB message whole', async () => {
      const binary = Uint8Array.from([0xff, 0x00, 0xfe, 0x41, 0xc3]);
      const bin = await payFresh(node, binary);
      const big = await payFresh(node, 'x'.repeat(64 * 1024 - 4) + 'end!');
      assert.equal(await hookResult(bin.answer), 'resolve');
      assert.equal(await hookResult(big.answer), 'resolve');
      await waitForText(page, `${item(bin.hash)} pre.hex`, 'ff00fe41c3');
      assert.match(await textOf(page, `${item(bin.hash)} .binary`), /binary, 5 bytes/);
      await waitForText(page, `${item(big.hash)} pre.text`, 'end!');
      assert.equal((await textOf(page, `${item(big.hash)} pre.text`)).length, 64 * 1024);
    });

    test('Accept on a held message settles it: the htlc_accepted hook answers resolve', async () => {
      const { hash, answer } = await payFresh(node, 'hold me, then accept', { hold: true });
      await page.waitForSelector(`${item(hash)} button.accept`);
      assert.match(await textOf(page, `${item(hash)} .left`), /\d+:\d\d left to decide/);
      await page.click(`${item(hash)} button.accept`);
      assert.equal(await hookResult(answer), 'resolve');
      await page.waitForSelector(`${item(hash)}[data-status="settled"]`);
    });

    test('Reject asks for a reason and refuses: the hook answers fail and the reason is shown', async () => {
      const { hash, answer } = await payFresh(node, 'hold me, then reject', { hold: true });
      await page.waitForSelector(`${item(hash)} button.reject`);
      await page.click(`${item(hash)} button.reject`);
      await page.type(`${item(hash)} input.reason`, 'sold out');
      await page.click(`${item(hash)} button.confirm-reject`);
      assert.equal(await hookResult(answer), 'fail');
      await waitForText(page, `${item(hash)} .reason`, 'refused: sold out');
      assert.equal(await page.$eval(item(hash), (li) => li.getAttribute('data-status')), 'rejected');
    });

    test('the send panel shows what fits one HTLC and sends sendmessage with the typed fields', async () => {
      const { destination, hash } = recordedPayment();
      await page.locator('input[name=destination]').fill(destination);
      await page.locator('input[name=payment_hash]').fill(hash);
      await page.locator('input[name=amount_msat]').fill('5000');
      await page.locator('textarea[name=message]').fill('hello from the page');
      // The hops of the route lightningd gave (the recorded getroutes), the signature's 123 bytes
      // of records (34349337, 34349339, 34349343) beside the message.
      const hops = (rpcRecord(`${PAID}/getroutes`).reply.result as { routes: { path: unknown[] }[] })
        .routes[0]?.path.length as number;
      const fits = maxMessageBytes(hops, {
        amountMsat: 5000n,
        blockheight: finalCltvValue(),
        extraFinalBytes: 123,
      });
      await waitForText(page, '#capacity', `19 bytes; one HTLC holds ${fits} over ${hops} hops`);
      const sent = node.fake.requests.filter((r) => r.method === 'sendmessage').length;
      await page.click('#send button[type=submit]');
      await waitForText(page, '#send-result', 'Sent: 5000 msat');
      const request = node.fake.requests.filter((r) => r.method === 'sendmessage')[sent];
      assert.deepEqual(request?.params, {
        destination,
        payment_hash: hash,
        amount_msat: 5000,
        message: 'hello from the page',
        sign: true,
      });
      // The plugin paid as it does from the CLI: signed, routed, sent.
      for (const method of ['signmessage', 'getroutes', 'createonion', 'sendonion', 'waitsendpay'])
        assert.ok(
          node.fake.requests.some((r) => r.method === method),
          method,
        );
    });

    test('an invoice goes to sendmessage as bolt11: the plugin reads it, and its refusal is the sentence', async () => {
      // Recorded on v26.06.6: an invoice that expired an hour after it was made, so refused whenever this runs.
      node.fake.handle('decode', v26066Reply('invoice-decode.jsonl', 'decode-preimage'));
      const bolt11 = v26066Params('invoice-decode.jsonl', 'decode-preimage').string as string;
      for (const name of ['destination', 'payment_hash', 'amount_msat'])
        await page.locator(`input[name=${name}]`).fill('');
      await page.locator('input[name=bolt11]').fill(bolt11);
      await page.locator('textarea[name=message]').fill('paying your invoice');
      // Its payee reads payment_data (the invoice's secret and its 6000 msat) beside the message and the signature.
      const hops = (rpcRecord(`${PAID}/getroutes`).reply.result as { routes: { path: unknown[] }[] })
        .routes[0]?.path.length as number;
      const fits = maxMessageBytes(hops, {
        amountMsat: 6000n,
        blockheight: finalCltvValue(),
        extraFinalBytes: 123 + paymentDataBytes(6000n),
      });
      await waitForText(page, '#capacity', `19 bytes; one HTLC holds ${fits} over ${hops} hops`);
      const sent = node.fake.requests.filter((r) => r.method === 'sendmessage').length;
      await page.click('#send button[type=submit]');
      await waitForMatch(page, '#send-result', /^(Not sent|Sent): /);
      const request = node.fake.requests.filter((r) => r.method === 'sendmessage')[sent];
      assert.deepEqual(request?.params, { bolt11, message: 'paying your invoice', sign: true });
      assert.match(
        await textOf(page, '#send-result'),
        /^Not sent: sendmessage: bolt11: the invoice expired \d+ seconds ago \(code -32602\)$/,
      );
    });

    test("the outbox lists what the send panel sent (the plugin's own sendmessage_list)", async () => {
      await page.reload();
      await waitForText(page, '#outbox li', 'hello from the page');
    });

    test('a plugin that keeps no outbox (sendmessage_list unknown): the panel says so', async () => {
      node.fake.handle('sendmessage_list', (req) =>
        errorLike('unknown-method', req.id, { message: "Unknown command 'sendmessage_list'" }),
      );
      await page.reload();
      await waitForText(page, '#outbox-note', 'this lnmsg version keeps no outbox');
    });

    test('with sendmessage_list, the outbox lists what was sent, its error as text', async () => {
      // A hostile entry in sendmessage_list's shape (error as a sentence, as older shapes had it).
      const sent = {
        payment_hash: 'ab'.repeat(32),
        destination: `02${'ee'.repeat(32)}`,
        amount_msat: 7000,
        fee_msat: 3,
        parts: 2,
        status: 'failed',
        error: '<b>no route</b>',
        message: '<img src=x onerror=window.__pwned=3>',
        created_index: 1,
      };
      node.fake.handle('sendmessage_list', (req) => {
        const { start } = req.params as { start: number };
        return resultLike('recorder-echo-named', req.id, { messages: start <= 1 ? [sent] : [] });
      });
      await page.reload();
      await waitForText(page, '#outbox li', '<img src=x onerror=window.__pwned=3>');
      assert.match(await textOf(page, '#outbox li .meta'), /failed.*7000 msat.*fee 3 msat.*2 parts/);
      assert.equal(await textOf(page, '#outbox li .reason'), 'error: <b>no route</b>');
      assert.equal(await textOf(page, '#outbox-note'), '');
      assert.equal((await page.$$('#outbox img, #outbox b')).length, 0);
      assert.equal(await page.evaluate('window.__pwned'), undefined);
    });

    test('a node that goes away is shown unreachable; the page recovers when a node listens there again', async () => {
      await node.stop();
      await waitForText(page, '#banner', 'Node unreachable');
      node = await Node.start();
      await node.startPlugin();
      node.serveClients();
      unlinkSync(link);
      symlinkSync(node.fake.socketPath, link);
      await page.waitForFunction(`document.querySelector('#banner').hidden`, { timeout: 30_000 });
      const { hash, answer } = await payFresh(node, 'after the node came back');
      assert.equal(await hookResult(answer), 'resolve');
      await waitForText(page, `${item(hash)} pre.text`, 'after the node came back');
    });
  });
});
