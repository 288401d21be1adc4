import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { LightningRpc } from '../src/cln/rpc.js';
import type { SentView as Sent } from '../src/send/outbox-methods.js';
import { DatastoreKv } from '../src/store/kv.js';
import { OutboxStore } from '../src/store/outbox.js';
import { toHex } from '../src/wire/bytes.js';
import {
  FIXTURES,
  type IncomingRequest,
  recordedAnswer,
  resultLike,
  rpcRecord,
} from './support/fake-lightningd.js';
import { paidHashRun } from './support/paid-hash.js';
import { Node } from './support/plugin-node.js';
import { lightningdMessages } from './support/recorded.js';
import { answerSendsAsRecorded, PAID, recordedPayment } from './support/send-path.js';
import { needsShared } from './support/shared.js';

/** The recorded notification `method` lightningd sent node 1's plugin in `step`, verbatim. */
function recordedNotification(step: string, method: string): string {
  const found = lightningdMessages('notifications.jsonl').find(
    (m) => m.rec.step === step && m.rec.node === 1 && m.msg.method === method,
  );
  if (!found) throw new Error(`no recorded ${method} in ${step}`);
  return found.raw;
}

/** Resolves once `check` holds; notifications have no answer to wait for. */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; !(await check()); i++) {
    if (i === 500) throw new Error('gave up waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A payment's recorded `sendonion` reply, less its `message`: its part as lightningd lists it while in flight. */
function inFlight(run: string) {
  const { message: _, ...part } = rpcRecord(`${run}/sendonion`).reply.result as {
    message: string;
    payment_hash: string;
  };
  return part;
}

describe('the outbox in the plugin process, behind a fake lightningd', needsShared(...FIXTURES), () => {
  let node: Node;
  const { destination } = recordedPayment();
  before(async () => {
    node = await Node.start();
    await node.startPlugin();
    answerSendsAsRecorded(node.fake);
  });
  after(() => node.stop());

  const list = (params: Record<string, unknown> = {}) =>
    node.result<{ messages: Sent[] }>('sendmessage_list', { limit: 1000, ...params });
  const entry = async (hash: string) => (await list()).messages.find((m) => m.payment_hash === hash);
  const keysend = (message: string) =>
    node.call('sendmessage', { destination, amount_msat: 5000, message, sign: false });
  const outboxKeys = (hash: string) =>
    node.datastore.keys().filter((k) => k[1] === 'outbox' && k.at(-1) === hash);

  /** Keeps waitsendpay's answer back until `release`; `asked` resolves when the plugin waits on it. */
  function holdWaitsendpay() {
    let release!: () => void;
    const asked = new Promise<void>((resolve) =>
      node.fake.handle('waitsendpay', (req) => {
        resolve();
        return new Promise((answer) => {
          release = () => {
            node.fake.replyWith('waitsendpay', `${PAID}/waitsendpay`);
            answer(recordedAnswer(`${PAID}/waitsendpay`, req.id));
          };
        });
      }),
    );
    return { asked, release: () => release() };
  }

  test('a send is written pending before its HTLC leaves, then complete with what lightningd reported', async () => {
    const held = holdWaitsendpay();
    const answer = keysend('kept');
    await held.asked;
    const pending = (await list()).messages.at(-1) as Sent;
    assert.deepEqual(
      [pending.status, pending.message, pending.destination, pending.spontaneous, pending.fee_msat],
      ['pending', 'kept', destination, true, undefined],
    );
    const hash = pending.payment_hash;
    const params = (r: IncomingRequest) => (r.params ?? {}) as { key?: string[]; payment_hash?: string };
    const written = (key: string) =>
      node.fake.requests.findIndex((r) => r.method === 'datastore' && params(r).key?.join('/') === key);
    const sent = node.fake.requests.findIndex(
      (r) => r.method === 'sendonion' && params(r).payment_hash === hash,
    );
    const claimIndex = node.fake.requests.findIndex(
      (r) =>
        r.method === 'datastore' &&
        params(r).key?.slice(0, 3).join('/') === 'lnmsg/outbox/inflight' &&
        (JSON.parse((r.params as { string: string }).string) as { paymentHash: string }).paymentHash === hash,
    );
    assert.ok(
      claimIndex >= 0 && claimIndex < sent,
      'the claim was written to a slot before the HTLC went out',
    );
    assert.deepEqual(
      [claimIndex, node.fake.requests[claimIndex]?.read],
      [sent - 1, node.fake.requests[sent]?.read],
      'in one write with the HTLC, right ahead of it: lightningd (batching) commits both at once',
    );
    assert.equal(
      JSON.parse((node.fake.requests[claimIndex]?.params as { string: string }).string).messageHex,
      pending.message_hex,
      'holding the send, so a restart can write its entry',
    );
    assert.ok(
      written(`lnmsg/outbox/message/${hash}`) > sent,
      'the entry itself after, once sendmessage_list asked for it: it holds no HTLC up',
    );

    held.release();
    const result = (await answer).result as Record<string, unknown>;
    const done = (await entry(hash)) as Sent;
    assert.deepEqual(
      [done.status, done.payment_preimage, done.fee_msat, done.amount_sent_msat, done.parts],
      ['complete', result.payment_preimage, result.fee_msat, result.amount_sent_msat, 1],
    );
    assert.equal(typeof done.completed_at, 'number');
    assert.equal(typeof done.updated_index, 'number', 'written pending, then changed');
  });

  test('a send nobody lists while in flight: its entry written once, already complete, after the answer', async () => {
    const answer = await keysend('quick');
    const hash = (answer.result as { payment_hash: string }).payment_hash;
    const done = (await entry(hash)) as Sent;
    assert.deepEqual(
      [done.status, done.message, done.updated_index],
      ['complete', 'quick', undefined],
      'never changed once written: no updated index',
    );
    const writes = node.fake.requests.filter(
      (r) =>
        r.method === 'datastore' &&
        (r.params as { key: string[] }).key.join('/') === `lnmsg/outbox/message/${hash}`,
    );
    assert.equal(writes.length, 1, 'no pending state written first');
    const mentions = (r: IncomingRequest) => {
      const p = r.params as { key: string[]; string?: string };
      return p.key.includes(hash) || (p.string ?? '').includes(hash);
    };
    assert.deepEqual(
      node.fake.requests
        .filter((r) => ['datastore', 'deldatastore'].includes(r.method) && mentions(r))
        .map((r) => `${r.method} ${(r.params as { key: string[] }).key[2]}`)
        .sort(),
      ['datastore created', 'datastore inflight', 'datastore message'],
      'three writes in all: its claim, its entry, its created index entry',
    );
  });

  test("an ended send's entry, still waiting, goes with the next send's HTLC: in its write, so lightningd commits them once", async () => {
    const first = await keysend('first');
    const hash = (first.result as { payment_hash: string }).payment_hash;
    const next = await keysend('next'); // starts while the first one's entry waits for a quiet moment
    const nextHash = (next.result as { payment_hash: string }).payment_hash;
    const params = (r: IncomingRequest) => (r.params ?? {}) as { key?: string[]; payment_hash?: string };
    const entryWrite = node.fake.requests.find(
      (r) => r.method === 'datastore' && params(r).key?.join('/') === `lnmsg/outbox/message/${hash}`,
    );
    const htlc = node.fake.requests.find(
      (r) => r.method === 'sendonion' && params(r).payment_hash === nextHash,
    );
    assert.ok(entryWrite && htlc);
    assert.equal(
      entryWrite.read,
      htlc.read,
      "the first entry arrived in the read of the next send's sendonion",
    );
    assert.equal((await entry(hash))?.status, 'complete');
  });

  test('a send the payee refuses is kept failed, with the code and message sendmessage returned', async () => {
    node.fake.replyWith('waitsendpay', 'htlc-sendonion/waitsendpay');
    const answer = await keysend('no thanks');
    node.fake.replyWith('waitsendpay', `${PAID}/waitsendpay`);
    const error = answer.error as { code: number; message: string };
    assert.equal(error.code, 1601);
    const failed = (await list()).messages.at(-1) as Sent;
    assert.deepEqual(
      [failed.status, failed.message, failed.error, failed.fee_msat],
      ['failed', 'no thanks', { code: error.code, message: error.message }, undefined],
    );
  });

  test('a bad parameter is not kept; a refusal once the hash is known is', async () => {
    const before = (await list()).messages.length;
    const bad = await node.call('sendmessage', { destination, amount_msat: 0, message: 'x' });
    assert.equal((bad.error as { code: number }).code, -32602);
    // As recorded on a hash already paid: sendonion answers with that payment's success.
    node.fake.handle('sendonion', paidHashRun('cln-v26.06.6').reply('again-same-part/sendonion'));
    const paid = await node.call('sendmessage', {
      destination,
      payment_hash: recordedPayment().hash,
      amount_msat: 5000,
      message: 'late',
    });
    answerSendsAsRecorded(node.fake);
    assert.equal((paid.error as { code: number }).code, 1601);
    const { messages } = await list();
    assert.equal(messages.length, before + 1);
    assert.deepEqual(
      [messages.at(-1)?.payment_hash, messages.at(-1)?.status, messages.at(-1)?.error?.code],
      [recordedPayment().hash, 'failed', 1601],
    );
  });

  test('sendmessage_list pages by created and updated index, checking its parameters as receivemessage_list', async () => {
    assert.equal((await keysend('one')).error, undefined);
    for (const m of ['two', 'three']) {
      // Listed while in flight: written pending, then changed.
      const held = holdWaitsendpay();
      const answer = keysend(m);
      await held.asked;
      await list();
      held.release();
      assert.equal((await answer).error, undefined);
    }
    const all = (await list()).messages;
    const from = (all[1] as Sent).created_index;
    const page = await node.result<{ messages: Sent[] }>('sendmessage_list', ['created', from, 2]);
    assert.deepEqual(
      page.messages.map((m) => m.payment_hash),
      all.slice(1, 3).map((m) => m.payment_hash),
    );
    const updated = (await list({ index: 'updated' })).messages;
    assert.deepEqual(
      updated.slice(-2).map((m) => m.message),
      ['two', 'three'],
      'the entries that changed once written; "one" was written once, ended',
    );
    const order = updated.map((m) => m.updated_index as number);
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
    const last = await list({ index: 'updated', start: order.at(-1) });
    assert.deepEqual(
      last.messages.map((m) => m.message),
      ['three'],
    );
    for (const [params, names] of [
      [{ index: 'deleted' }, /index: must be one of created, updated/],
      [{ limit: 0 }, /limit/],
      [{ limit: 5000 }, /limit: must be at most 1000/],
      [{ start: -1 }, /start/],
    ] as const) {
      const error = (await node.call('sendmessage_list', params)).error as { code: number; message: string };
      assert.equal(error?.code, -32602, JSON.stringify(params));
      assert.match(error.message, names);
    }
  });

  test('sendmessage_delete frees an ended entry and refuses a pending one', async () => {
    const held = holdWaitsendpay();
    const answer = keysend('deleted later');
    await held.asked;
    const hash = ((await list()).messages.at(-1) as Sent).payment_hash;
    const refused = (await node.call('sendmessage_delete', [hash])).error as {
      code: number;
      message: string;
    };
    assert.equal(refused.code, -32602);
    assert.match(refused.message, /still being sent/);
    held.release();
    await answer;
    const r = await node.result<{ deleted: Sent }>('sendmessage_delete', [hash]);
    assert.deepEqual([r.deleted.message, r.deleted.status], ['deleted later', 'complete']);
    assert.equal(await entry(hash), undefined);
    assert.deepEqual(outboxKeys(hash), []);
    const again = (await node.call('sendmessage_delete', { payment_hash: hash })).error as {
      message: string;
    };
    assert.match(again.message, /nothing sent to it is kept/);
  });

  test('entries a restart left pending: settled from listsendpays at start, then by sendpay_success and sendpay_failure', async () => {
    const paidHash = inFlight(PAID).payment_hash;
    const failedHash = inFlight('htlc-sendonion').payment_hash;
    const unsent = toHex(randomBytes(32));
    // lightningd's record while the payments are in flight: each hash's recorded sendonion reply.
    const flying: Record<string, unknown[]> = {
      [paidHash]: [inFlight(PAID)],
      [failedHash]: [inFlight('htlc-sendonion')],
    };
    node.fake.handle('listsendpays', (req) => {
      const hash = (req.params as { payment_hash: string }).payment_hash;
      return resultLike('listsendpays', req.id, { payments: flying[hash] ?? [] });
    });

    // The previous run: it wrote its entries pending, then died.
    await node.plugin.kill();
    const rpc = new LightningRpc(node.fake.socketPath);
    const previous = new OutboxStore(new DatastoreKv(rpc));
    await previous.open();
    for (const h of [paidHash, failedHash, unsent]) {
      const send = {
        paymentHash: h,
        destination,
        amountMsat: 5000,
        messageHex: '6869',
        spontaneous: false,
        signed: false,
        createdAt: 1_790_000_000,
      };
      const r = await previous.claim(send);
      assert.ok(r !== 'busy');
      // The claim is written with the first HTLC's command; the unsent one's died before
      // lightningd took the HTLC, and its entry was never written.
      await previous.hold(r);
      if (h !== unsent) await previous.record(r);
    }
    rpc.close();
    const asked = () =>
      node.fake.requests
        .filter((r) => r.method === 'listsendpays')
        .map((r) => (r.params as { payment_hash: string }).payment_hash);
    const askedBefore = asked().length;
    await node.startPlugin();
    assert.deepEqual(
      asked().slice(askedBefore).sort(),
      [paidHash, failedHash, unsent].sort(),
      'one listsendpays per pending entry, by its hash',
    );
    assert.deepEqual(
      [(await entry(paidHash))?.status, (await entry(failedHash))?.status],
      ['pending', 'pending'],
    );
    assert.deepEqual((await entry(unsent))?.error, {
      code: 1604,
      message: 'the node restarted before the message was sent (lightningd has no payment for this hash)',
    });

    // The parts end: lightningd's record says so, and it announces each.
    const { payments } = rpcRecord('listsendpays').reply.result as { payments: { payment_hash: string }[] };
    for (const h of [paidHash, failedHash]) flying[h] = payments.filter((p) => p.payment_hash === h);
    const unrelated = recordedNotification('htlc-xkeysend', 'sendpay_success');
    node.plugin.send(unrelated);
    node.plugin.send(recordedNotification('rpc-sendonion-success', 'sendpay_success'));
    node.plugin.send(recordedNotification('htlc-sendonion', 'sendpay_failure'));
    await until(async () => (await entry(paidHash))?.status !== 'pending');
    await until(async () => (await entry(failedHash))?.status !== 'pending');
    const paid = (await entry(paidHash)) as Sent;
    const wait = rpcRecord(`${PAID}/waitsendpay`).reply.result as Record<string, number | string>;
    assert.deepEqual(
      [
        paid.status,
        paid.payment_preimage,
        paid.amount_sent_msat,
        paid.fee_msat,
        paid.parts,
        paid.completed_at,
      ],
      ['complete', wait.payment_preimage, 5001, 1, 1, wait.completed_at],
    );
    assert.deepEqual((await entry(failedHash))?.error, {
      code: 1604,
      message: 'the node restarted while sending; lightningd reports it failed',
    });
    const unrelatedHash = (JSON.parse(unrelated).params.sendpay_success as { payment_hash: string })
      .payment_hash;
    assert.ok(!asked().includes(unrelatedHash), 'a payment not pending in the outbox is not looked up');
    answerSendsAsRecorded(node.fake);
  });
});
