import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { LightningRpc, RpcConnectionError, RpcError, RpcReplyError } from '../src/cln/rpc.js';
import {
  type Answer,
  FakeLightningd,
  FIXTURES,
  recordedAnswer,
  replyChunksWithId,
  rpcRecord,
  rpcRecords,
} from './support/fake-lightningd.js';
import { v26066Reply } from './support/recorded-v26066.js';
import { needsShared } from './support/shared.js';

const FIX = needsShared(...FIXTURES);

describe('LightningRpc against a fake lightningd', FIX, () => {
  let fake: FakeLightningd;
  const clients: LightningRpc[] = [];
  const client = (maxReplyBytes?: number) => {
    const c = new LightningRpc(fake.socketPath, 'lnmsg', { maxReplyBytes });
    clients.push(c);
    return c;
  };

  before(async () => {
    fake = await FakeLightningd.start();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    assert.deepEqual(fake.protocolErrors, [], 'the client wrote only JSON objects followed by "\\n\\n"');
  });
  after(async () => {
    await fake?.close();
  });

  test("replies keep lightningd's text: only the id is rewritten", () => {
    const rec = rpcRecord('getinfo-n3');
    const chunks = replyChunksWithId(rec, 'lnmsg:getinfo#7');
    assert.equal(chunks.join(''), rec.chunks.join('').replace('"rec:getinfo-n3"', '"lnmsg:getinfo#7"'));
    const large = rpcRecord('listdatastore-large');
    const moved = replyChunksWithId(large, 'x');
    assert.equal(moved.length, 2);
    assert.equal(moved[1], large.chunks[1], 'the second read is unchanged');
  });

  test('every recorded call: results resolve to `result`, errors become RpcError with code/message/data', async () => {
    const rpc = client();
    for (const rec of rpcRecords()) {
      const { method, params } = rec.request;
      fake.replyWith(method, rec.name);
      const call = rpc.call(method, params as Record<string, unknown>);
      if (rec.reply.error) {
        const expected = rec.reply.error;
        await assert.rejects(call, (e: unknown) => {
          assert.ok(e instanceof RpcError, `${rec.name}: ${e}`);
          assert.equal(e.code, expected.code, rec.name);
          assert.equal(e.method, method);
          assert.ok(e.message.includes(expected.message), `${e.message} names "${expected.message}"`);
          assert.deepEqual(e.data, expected.data, rec.name);
          return true;
        });
      } else {
        assert.deepEqual(await call, rec.reply.result, rec.name);
      }
      const sent = fake.requests.at(-1);
      assert.equal(sent?.method, method);
      assert.deepEqual(sent?.params, params);
      assert.match(String(sent?.id), new RegExp(`^lnmsg:${method}#\\d+$`));
    }
  });

  test('recorded errors: unknown method -32601, datastore 1202, bad params -32602', async () => {
    const rpc = client();
    const cases: [string, number, string][] = [
      ['unknown-method', -32601, "Unknown command 'lnmsg-no-such-method'"],
      ['datastore-create-again', 1202, 'Key already exists'],
      ['bad-params-missing', -32602, 'missing required parameter: message'],
      ['bad-params-invalid', -32602, 'destination: should be a node id'],
      ['bad-params-positional-too-many', -32602, 'too many parameters: got 1, expected 0'],
    ];
    for (const [name, code, text] of cases) {
      const rec = rpcRecord(name);
      fake.replyWith(rec.request.method, name);
      const err = await rpc.call(rec.request.method, rec.request.params as unknown[]).then(
        () => assert.fail(`${name} resolved`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RpcError);
      assert.equal(err.code, code);
      assert.ok(err.message.includes(text), err.message);
      assert.equal(err.data, undefined);
    }
    // Not configured at all: the fake answers as lightningd did for an unknown command.
    await assert.rejects(rpc.call('lnmsg-nope'), (e: unknown) => {
      assert.ok(e instanceof RpcError);
      assert.equal(e.code, -32601);
      assert.match(e.message, /Unknown command 'lnmsg-nope'/);
      return true;
    });
  });

  test('concurrent calls answered out of order, separately and coalesced in one write', async () => {
    const rpc = client();
    fake.replyWith('getinfo', 'getinfo-n3');
    fake.replyWith('signmessage', 'signmessage');
    fake.replyWith('listnodes', 'listnodes');
    fake.replyWith('checkmessage', 'checkmessage-tampered');
    for (const coalesce of [false, true]) {
      fake.hold();
      const seen = fake.requests.length;
      const calls = [
        rpc.call('getinfo'),
        rpc.call('signmessage', { message: 'lnmsg fixture' }),
        rpc.call('listnodes'),
        rpc.call('checkmessage', {}).catch((e: unknown) => e),
      ];
      await fake.waitForRequests(seen + 4);
      assert.equal(fake.heldCount, 4);
      await fake.release({ order: [3, 1, 2, 0], coalesce });
      const [info, sig, nodes, err] = await Promise.all(calls);
      assert.deepEqual(info, rpcRecord('getinfo-n3').reply.result);
      assert.deepEqual(sig, rpcRecord('signmessage').reply.result);
      assert.deepEqual(nodes, rpcRecord('listnodes').reply.result);
      assert.ok(err instanceof RpcError);
      assert.equal(err.code, 1301);
      assert.deepEqual(err.data, rpcRecord('checkmessage-tampered').reply.error?.data);
    }
  });

  test('one connection carries many calls', async () => {
    const rpc = client();
    fake.replyWith('getinfo', 'getinfo');
    const before = fake.connectionsAccepted;
    const results = await Promise.all(Array.from({ length: 20 }, () => rpc.call('getinfo')));
    assert.equal(fake.connectionsAccepted, before + 1);
    for (const r of results) assert.deepEqual(r, rpcRecord('getinfo').reply.result);
  });

  test('calls asked for in one tick leave in one write, in order; a later call in its own', async () => {
    const rpc = client();
    fake.replyWith('getinfo', 'getinfo');
    await rpc.call('getinfo'); // connected
    const seen = fake.requests.length;
    const together = Promise.all([rpc.call('getinfo', { n: 1 }), rpc.call('getinfo', { n: 2 })]);
    await fake.waitForRequests(seen + 2);
    await Promise.all([together, rpc.call('getinfo', { n: 3 })]);
    const reqs = fake.requests.slice(seen);
    assert.deepEqual(
      reqs.map((r) => r.params),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    );
    assert.equal(reqs[0]?.read, reqs[1]?.read, 'one read for the two asked together');
    assert.notEqual(reqs[2]?.read, reqs[1]?.read, 'the later call in a read of its own');
  });

  test('the 80 KB reply arriving in the recorded 2 reads', async () => {
    const rpc = client();
    const rec = rpcRecord('listdatastore-large');
    let chunks: string[] = [];
    fake.handle('listdatastore', (req) => {
      const answer = recordedAnswer('listdatastore-large', req.id);
      chunks = answer.chunks;
      return answer;
    });
    const result = await rpc.call('listdatastore', rec.request.params as Record<string, unknown>);
    assert.equal(chunks.length, 2, 'written as the 2 recorded pieces');
    assert.deepEqual(result, rec.reply.result);
    // ...and with a smaller call answered in the same write right behind it
    fake.replyWith('getinfo', 'getinfo-n2');
    fake.hold();
    const seen = fake.requests.length;
    const big = rpc.call('listdatastore', rec.request.params as Record<string, unknown>);
    const small = rpc.call('getinfo');
    await fake.waitForRequests(seen + 2);
    await fake.release({ coalesce: true });
    assert.deepEqual(await big, rec.reply.result);
    assert.deepEqual(await small, rpcRecord('getinfo-n2').reply.result);
  });

  /** A safety net only: were a call left pending for ever, the test fails instead of hanging. */
  const NO_HANG = { timeout: 30_000 };

  /** Resolves to what `call` rejected with, failing the test if it resolved. */
  const rejection = (call: Promise<unknown>) =>
    call.then(
      (v) => assert.fail(`resolved with ${JSON.stringify(v).slice(0, 80)}`),
      (e: unknown) => e,
    );

  /** Deliberately broken copies of a recorded reply, as a faulty or hostile peer could send. */
  const brokenReply = (name: string, id: string | number, from: string, to: string): Answer => {
    const chunks = recordedAnswer(name, id).chunks;
    assert.ok(
      chunks.some((c) => c.includes(from)),
      `${name} holds ${from}`,
    );
    return { chunks: chunks.map((c) => c.replace(from, to)) };
  };

  test(
    'a reply over maxReplyBytes rejects its call with RpcReplyError; a call answered beside it succeeds',
    NO_HANG,
    async () => {
      // The recorded 80 KB listdatastore reply, with the cap far below it.
      const rpc = client(10_000);
      const rec = rpcRecord('listdatastore-large');
      fake.handle('listdatastore', (req) => recordedAnswer('listdatastore-large', req.id));
      fake.replyWith('getinfo', 'getinfo-n2');
      const connections = fake.connectionsAccepted;
      for (const coalesce of [false, true]) {
        fake.hold();
        const seen = fake.requests.length;
        const big = rejection(rpc.call('listdatastore', rec.request.params as Record<string, unknown>));
        const small = rpc.call('getinfo');
        await fake.waitForRequests(seen + 2);
        await fake.release({ coalesce });
        const err = await big;
        assert.ok(err instanceof RpcReplyError, String(err));
        assert.equal(err.name, 'RpcReplyError');
        assert.equal(err.method, 'listdatastore');
        assert.match(err.message, /more than 10000 bytes/);
        assert.deepEqual(await small, rpcRecord('getinfo-n2').reply.result);
      }
      // The connection stays up and in step: the next reply on it is read as usual.
      assert.deepEqual(await rpc.call('getinfo'), rpcRecord('getinfo-n2').reply.result);
      assert.equal(fake.connectionsAccepted, connections + 1);
    },
  );

  test(
    'a reply that is not JSON rejects the call its id names; the others go on, on the same connection',
    NO_HANG,
    async () => {
      const rpc = client();
      // The colon after "result" taken out: the braces still balance, the id is still readable.
      fake.handle('getinfo', (req) => brokenReply('getinfo-n3', req.id, '"result":', '"result"'));
      fake.replyWith('signmessage', 'signmessage');
      fake.hold();
      const seen = fake.requests.length;
      const connections = fake.connectionsAccepted;
      const info = rejection(rpc.call('getinfo'));
      const sig = rpc.call('signmessage', { message: 'lnmsg fixture' });
      await fake.waitForRequests(seen + 2);
      await fake.release({ order: [0, 1], coalesce: true });
      const err = await info;
      assert.ok(err instanceof RpcReplyError, String(err));
      assert.equal(err.method, 'getinfo');
      assert.match(err.message, /^getinfo: unusable reply from lightningd: /);
      assert.deepEqual(await sig, rpcRecord('signmessage').reply.result);
      assert.deepEqual(
        await rpc.call('signmessage', { message: 'lnmsg fixture' }),
        rpcRecord('signmessage').reply.result,
      );
      assert.equal(fake.connectionsAccepted, connections + 1);
    },
  );

  test(
    'a reply that is not JSON and shows no id fails every pending call and drops the connection; the next call reconnects',
    NO_HANG,
    async () => {
      const rpc = client();
      fake.handle('waitsendpay', () => undefined); // never answered, like a payment still in flight
      // The colon after "id" taken out: no id can be read, so no call can be told apart.
      fake.handle('getinfo', (req) => brokenReply('getinfo-n3', req.id, '"id":', '"id"'));
      const seen = fake.requests.length;
      const connections = fake.connectionsAccepted;
      const waiting = rejection(rpc.call('waitsendpay', { payment_hash: '00'.repeat(32) }));
      await fake.waitForRequests(seen + 1);
      const info = rejection(rpc.call('getinfo'));
      for (const [call, method] of [
        [waiting, 'waitsendpay'],
        [info, 'getinfo'],
      ] as const) {
        const err = await call;
        assert.ok(err instanceof RpcReplyError, `${method}: ${err}`);
        assert.equal(err.method, method);
      }
      fake.replyWith('getinfo', 'getinfo');
      assert.deepEqual(await rpc.call('getinfo'), rpcRecord('getinfo').reply.result);
      assert.equal(fake.connectionsAccepted, connections + 2, 'a new connection after the dropped one');
    },
  );

  test('the server closing the connection rejects every pending call; the next call reconnects', async () => {
    const rpc = client();
    fake.handle('waitsendpay', () => undefined); // never answers, like a payment still in flight
    const seen = fake.requests.length;
    const pending = [rpc.call('waitsendpay', { payment_hash: '00'.repeat(32) }), rpc.call('waitsendpay', {})];
    await fake.waitForRequests(seen + 2);
    fake.dropConnections();
    for (const p of pending) {
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof RpcConnectionError, String(e));
        assert.ok(e.message.includes(fake.socketPath), e.message);
        return true;
      });
    }
    fake.replyWith('getinfo', 'getinfo');
    assert.deepEqual(await rpc.call('getinfo'), rpcRecord('getinfo').reply.result);
  });

  test('batching: asked first on every connection, before any call; a refusal changes nothing', async () => {
    for (const answer of ['batching/enable', 'batching/bad-parameter']) {
      fake.handle('batching', v26066Reply('rpc-batching.jsonl', answer));
      fake.replyWith('getinfo', 'getinfo');
      const rpc = new LightningRpc(fake.socketPath, 'lnmsg', { batching: true });
      clients.push(rpc);
      const seen = fake.requests.length;
      const connections = fake.connectionsAccepted;
      const [info] = await Promise.all([rpc.call('getinfo'), rpc.call('getinfo')]);
      assert.deepEqual(info, rpcRecord('getinfo').reply.result, answer);
      // A call the fake never answers: its rejection tells the connection is gone.
      fake.handle('waitsendpay', () => undefined);
      const cut = rpc.call('waitsendpay', {});
      await fake.waitForRequests(seen + 4);
      fake.dropConnections();
      await assert.rejects(cut, RpcConnectionError);
      await rpc.call('getinfo');
      assert.equal(fake.connectionsAccepted, connections + 2);
      assert.deepEqual(
        fake.requests.slice(seen).map((r) => [r.method, r.params]),
        [
          ['batching', { enable: true }],
          ['getinfo', {}],
          ['getinfo', {}],
          ['waitsendpay', {}],
          ['batching', { enable: true }],
          ['getinfo', {}],
        ],
        answer,
      );
    }
    const plain = client();
    const seen = fake.requests.length;
    await plain.call('getinfo');
    assert.deepEqual(
      fake.requests.slice(seen).map((r) => r.method),
      ['getinfo'],
      'not asked unless wanted',
    );
  });
});

describe('LightningRpc without a lightningd', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('a missing socket gives RpcConnectionError naming the path tried', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lnmsg-no-ln-'));
    dirs.push(dir);
    const path = join(dir, 'regtest', 'lightning-rpc');
    const rpc = new LightningRpc(path);
    await assert.rejects(rpc.call('getinfo'), (e: unknown) => {
      assert.ok(e instanceof RpcConnectionError);
      assert.ok(e.message.includes(path), e.message);
      return true;
    });
    // and again: a failed connection is not cached
    await assert.rejects(rpc.call('getinfo'), RpcConnectionError);
  });

  test('a path that is not a socket gives RpcConnectionError naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lnmsg-no-ln-'));
    dirs.push(dir);
    const path = join(dir, 'lightning-rpc');
    writeFileSync(path, '');
    await assert.rejects(new LightningRpc(path).call('getinfo'), (e: unknown) => {
      assert.ok(e instanceof RpcConnectionError);
      assert.ok(e.message.includes(path), e.message);
      return true;
    });
  });
});
