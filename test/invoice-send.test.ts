import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { LightningRpc } from '../src/cln/rpc.js';
import { INVALID_PARAMS, MethodError, type PluginContext } from '../src/cln/plugin.js';
import { maxMessageBytes, paymentDataBytes } from '../src/onion/capacity.js';
import { HOP_PAYLOADS_SIZE, hopPayloadsSize } from '../src/onion/sphinx.js';
import { invoiceAmount, readInvoice } from '../src/send/invoice.js';
import { largestFitting } from '../src/send/message.js';
import { sendMessageMethod } from '../src/send/method.js';
import { Outbox } from '../src/send/outbox.js';
import { pathFromGetroutes, type GetroutesRoute } from '../src/send/route.js';
import { Sender } from '../src/send/sender.js';
import { MemoryKv } from '../src/store/kv.js';
import { OutboxStore } from '../src/store/outbox.js';
import { fromHex, toHex } from '../src/wire/bytes.js';
import { decodeHopPayload, stripLengthPrefix } from '../src/wire/hop-payload.js';
import { decodeChunk, RECORD } from '../src/wire/message-records.js';
import { DEFAULT_MESSAGE_TLV_TYPE } from '../src/index.js';
import { FakeLightningd, FIXTURES } from './support/fake-lightningd.js';
import { v26066Params, v26066Reply, v26066Result } from './support/recorded-v26066.js';
import { Node } from './support/plugin-node.js';
import { needsShared } from './support/shared.js';

/*
 * Paying an invoice with a message, on replies recorded from real lightningd v26.06.6
 * (test/fixtures/cln-v26.06.6: network 1, node 3 behind an unannounced channel, its invoices
 * carrying a route hint through node 2).
 */
const DECODE = 'invoice-decode.jsonl';
const VECTORS = 'invoice-decode-bolt11-vectors.jsonl';
const ASKRENE = 'askrene-getroutes.jsonl';
const EVEN = 'sendonion-custom-records.jsonl';
const MPP = 'mpp-sendonion.jsonl';

interface Decoded {
  created_at: number;
  expiry: number;
  payee: string;
  payment_hash: string;
  payment_secret: string;
  routes: { pubkey: string; short_channel_id: string }[][];
}
const decoded = (name: string) => v26066Result<Decoded>(DECODE, name);
const bolt11 = (name: string) => v26066Params(DECODE, name).string as string;
/** Node 1 of network 1, which made the recorded decodes and routes. */
const PAYER = { id: v26066Params(ASKRENE, 'getroutes-no-layer').source as string, network: 'regtest' };

describe('reading an invoice with lightningd decode (recorded replies)', () => {
  let fake: FakeLightningd;
  let rpc: LightningRpc;
  beforeEach(async () => {
    fake = await FakeLightningd.start();
    rpc = new LightningRpc(fake.socketPath);
  });
  afterEach(async () => {
    rpc.close();
    await fake.close();
  });
  const read = (file: string, name: string, o: { now?: number; node?: typeof PAYER } = {}) => {
    fake.handle('decode', v26066Reply(file, name));
    const string = v26066Params(file, name).string as string;
    const created = (v26066Result(file, name) as { created_at?: number } | undefined)?.created_at ?? 0;
    return readInvoice(rpc, string, o.node ?? PAYER, o.now ?? created + 1);
  };
  const refused = async (p: Promise<unknown>, why: RegExp) => {
    const e = await p.then(
      () => assert.fail('the invoice was taken'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof MethodError, String(e));
    assert.equal(e.code, INVALID_PARAMS);
    assert.match(e.message, why);
  };

  test('an invoice of the private node 3: payee, hash, secret, amount, final CLTV and the hinted channel', async () => {
    const d = decoded('decode-5000');
    const inv = await read(DECODE, 'decode-5000');
    assert.equal(inv.payee, d.payee);
    assert.equal(inv.paymentHash, d.payment_hash);
    assert.equal(inv.paymentSecret, d.payment_secret);
    assert.equal(inv.amountMsat, 5000);
    assert.equal(inv.minFinalCltv, 10);
    assert.equal(inv.description, 'lnmsg fixture 5000 msat');
    const hint = d.routes[0]?.[0] as { pubkey: string; short_channel_id: string };
    assert.deepEqual(inv.hints, [
      {
        source: hint.pubkey,
        destination: d.payee,
        short_channel_id: hint.short_channel_id,
        fee_base_msat: 1,
        fee_proportional_millionths: 10,
        cltv_expiry_delta: 6,
      },
    ]);
  });

  test('a hint from this node itself is left out: askrene knows its own channels', async () => {
    const hint = decoded('decode-5000').routes[0]?.[0] as { pubkey: string };
    const inv = await read(DECODE, 'decode-5000', { node: { ...PAYER, id: hint.pubkey } });
    assert.deepEqual(inv.hints, []);
  });

  test('payment_metadata is kept to hand back (BOLT 11 example, on a mainnet node)', async () => {
    const inv = await read(VECTORS, 'decode-payment-metadata', { node: { ...PAYER, network: 'bitcoin' } });
    assert.equal(inv.paymentMetadata, '01fafaf0');
  });

  test('what lightningd cannot read is refused with its reason: garbage, a bad checksum', async () => {
    await refused(
      read(DECODE, 'decode-garbage'),
      /^bolt11: lightningd cannot read this invoice: string: Unparsable/,
    );
    await refused(
      read(DECODE, 'decode-bad-checksum'),
      /^bolt11: lightningd cannot read this invoice: string: Bad bech32/,
    );
  });

  test('no payment secret: lightningd refuses to read it (BOLT 11 example "Missing required s field")', async () => {
    await refused(read(VECTORS, 'decode-no-secret'), /Missing required payment secret/);
  });

  test('an invoice for another network, which decode reads as valid, is refused', async () => {
    await refused(
      read(DECODE, 'decode-mainnet'),
      /^bolt11: the invoice is for another network \(prefix lnbc\); this node runs on regtest$/,
    );
  });

  test('expired: refused from the second its expiry ends, not before', async () => {
    const d = decoded('decode-preimage');
    const end = d.created_at + d.expiry;
    await read(DECODE, 'decode-preimage', { now: end - 1 });
    await refused(
      read(DECODE, 'decode-preimage', { now: end + 30 }),
      /^bolt11: the invoice expired 30 seconds ago$/,
    );
  });

  test("this node's own invoice is refused", async () => {
    await refused(
      read(DECODE, 'decode-5000', { node: { ...PAYER, id: decoded('decode-5000').payee } }),
      /this node's own/,
    );
  });

  test('the amount: the invoice says it, amount_msat only where it says none', async () => {
    const fixed = await read(DECODE, 'decode-5000');
    assert.equal(invoiceAmount(fixed, {}), 5000);
    assert.equal(invoiceAmount(fixed, { amount_msat: 5000 }), 5000);
    assert.throws(() => invoiceAmount(fixed, { amount_msat: 6000 }), /asks for 5000 msat, not 6000/);
    const any = await read(DECODE, 'decode-any');
    assert.equal(any.amountMsat, undefined);
    assert.throws(() => invoiceAmount(any, {}), /names no amount: give amount_msat/);
    assert.equal(invoiceAmount(any, { amount_msat: '7sat' }), 7000);
  });
});

describe('sendmessage bolt11=… (recorded replies)', needsShared(...FIXTURES), () => {
  let fake: FakeLightningd;
  let rpc: LightningRpc;
  let outbox: Outbox;
  beforeEach(async () => {
    fake = await FakeLightningd.start();
    rpc = new LightningRpc(fake.socketPath);
    outbox = new Outbox(new OutboxStore(new MemoryKv()), async () => []);
    await outbox.open();
    // The invoices were valid when recorded: the clock is set to then.
    mock.timers.enable({ apis: ['Date'], now: decoded('decode-5000').created_at * 1000 + 1000 });
    fake.replyWith('getinfo', 'getinfo'); // regtest, block 108
    fake.handle('decode', v26066Reply(DECODE, 'decode-5000'));
    fake.handle('askrene-create-layer', v26066Reply(ASKRENE, 'hint/askrene-create-layer'));
    fake.handle('askrene-create-channel', v26066Reply(ASKRENE, 'hint/askrene-create-channel'));
    fake.handle('askrene-update-channel', v26066Reply(ASKRENE, 'hint/askrene-update-channel'));
    fake.handle('askrene-remove-layer', v26066Reply(ASKRENE, 'askrene-remove-layer'));
    fake.handle('getroutes', v26066Reply(ASKRENE, 'getroutes-with-layer-auto'));
  });
  afterEach(async () => {
    mock.timers.reset();
    rpc.close();
    await fake.close();
  });

  const ctx = () =>
    ({
      rpc,
      options: { 'lnmsg-tlv-type': Number(DEFAULT_MESSAGE_TLV_TYPE) },
      log: () => {},
    }) as unknown as PluginContext;
  const sendmessage = (p: Record<string, unknown>) => sendMessageMethod(new Sender(rpc), outbox, p, ctx());
  const calls = (method: string) =>
    fake.requests.filter((r) => r.method === method).map((r) => r.params as Record<string, unknown>);
  /** Each onion's final payload, decoded. */
  const finals = () =>
    calls('createonion').map((p) => {
      const hops = (p.hops as { payload: string }[]).map((h) => fromHex(h.payload));
      return {
        size: hopPayloadsSize(hops),
        final: decodeHopPayload(stripLengthPrefix(hops.at(-1) as Uint8Array)),
      };
    });

  test('a payee without lnmsg refuses the even record: a clear error, nothing paid, the hint layer removed', async () => {
    for (const m of ['createonion', 'sendonion', 'waitsendpay'])
      fake.handle(m, v26066Reply(EVEN, `even/${m}`));
    const e = await sendmessage({
      bolt11: bolt11('decode-5000'),
      message: 'hello, invoice',
      sign: false,
    }).then(
      () => assert.fail('the payee refused'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof MethodError);
    assert.equal(e.code, 1601);
    assert.match(e.message, /the payee does not run lnmsg, or does not take message record 34349334/);
    assert.equal(calls('sendonion').length, 1, 'not retried');

    // The route hint became askrene's channel exactly as recorded (xpay's way), under our layer.
    const [layer] = calls('askrene-create-layer').map((p) => p.layer as string);
    const without = (p: Record<string, unknown>) => ({ ...p, layer: undefined });
    assert.deepEqual(calls('askrene-create-channel').map(without), [
      without(v26066Params(ASKRENE, 'hint/askrene-create-channel')),
    ]);
    assert.deepEqual(calls('askrene-update-channel').map(without), [
      without(v26066Params(ASKRENE, 'hint/askrene-update-channel')),
    ]);
    for (const g of calls('getroutes')) {
      assert.ok((g.layers as string[]).includes(layer as string), 'every route asked with the hints');
      assert.equal(g.destination, decoded('decode-5000').payee);
      assert.equal(g.amount_msat, 5000);
    }
    assert.deepEqual(calls('askrene-remove-layer'), [{ layer }]);

    // The one HTLC carried the invoice's secret and total, and the message.
    const { final } = finals()[0] as { final: ReturnType<typeof decodeHopPayload> };
    assert.equal(
      toHex(final.paymentData?.paymentSecret ?? new Uint8Array()),
      decoded('decode-5000').payment_secret,
    );
    assert.equal(final.paymentData?.totalMsat, 5000n);
    assert.equal(
      Buffer.from(
        final.customRecords.find((r) => r.type === DEFAULT_MESSAGE_TLV_TYPE)?.value ?? [],
      ).toString(),
      'hello, invoice',
    );
    assert.equal(calls('sendonion')[0]?.payment_hash, decoded('decode-5000').payment_hash);

    await outbox.current(); // its writes are put off until no send is being prepared
    const [entry] = await outbox.store.list('created', 0, 10);
    assert.equal(entry?.status, 'failed');
    assert.equal(entry?.bolt11, bolt11('decode-5000'));
    assert.equal(entry?.description, 'lnmsg fixture 5000 msat');
    assert.equal(entry?.error?.code, 1601);
  });

  test('a message larger than one HTLC: every part carries payment_data with the whole amount', async () => {
    fake.handle('createonion', v26066Reply(MPP, 'mpp/part1/createonion'));
    fake.handle('sendonion', v26066Reply(MPP, 'mpp/part1/sendonion'));
    fake.handle('waitsendpay', v26066Reply(MPP, 'mpp/part1/waitsendpay'));
    const message = randomBytes(5000);
    const r = (await sendmessage({
      bolt11: bolt11('decode-5000'),
      message_hex: toHex(message),
      sign: false,
    })) as {
      parts: number;
    };
    const parts = finals();
    assert.ok(r.parts > 1 && parts.length === r.parts, `${r.parts} parts`);
    let bytes = 0;
    for (const { size, final } of parts) {
      assert.equal(
        toHex(final.paymentData?.paymentSecret ?? new Uint8Array()),
        decoded('decode-5000').payment_secret,
      );
      assert.equal(final.paymentData?.totalMsat, 5000n);
      assert.ok(size <= HOP_PAYLOADS_SIZE);
      bytes += decodeChunk(final.customRecords.find((c) => c.type === RECORD.chunk)?.value as Uint8Array).data
        .length;
    }
    assert.equal(bytes, message.length);
    for (const s of calls('sendonion')) assert.equal(s.total_amount_msat, 5000);
  });

  test('refusals before anything is sent: amount, destination, form, expiry', async () => {
    const invalid = async (p: Record<string, unknown>, why: RegExp) => {
      const e = await sendmessage(p).then(
        () => assert.fail('refused'),
        (err: unknown) => err,
      );
      assert.ok(e instanceof MethodError && e.code === INVALID_PARAMS, String(e));
      assert.match(e.message, why);
    };
    await invalid(
      { bolt11: bolt11('decode-5000'), amount_msat: 4000, message: 'x' },
      /asks for 5000 msat, not 4000/,
    );
    await invalid(
      { bolt11: bolt11('decode-5000'), destination: PAYER.id, message: 'x' },
      /^destination: the invoice names it/,
    );
    await invalid({ bolt11: 'not an invoice', message: 'x' }, /^bolt11: must be a BOLT 11 invoice/);
    mock.timers.setTime((decoded('decode-5000').created_at + decoded('decode-5000').expiry + 1) * 1000);
    await invalid(
      { bolt11: bolt11('decode-5000'), message: 'x' },
      /^bolt11: the invoice expired 1 seconds ago/,
    );
    assert.deepEqual(calls('sendonion'), []);
    assert.deepEqual(calls('askrene-create-layer'), []);
    await outbox.current();
    assert.deepEqual(await outbox.store.list('created', 0, 10), [], 'nothing kept: nothing was sent');
  });
});

describe(
  'sendmessage positional, an invoice first (the plugin as lightningd runs it)',
  needsShared(...FIXTURES),
  () => {
    let node: Node;
    beforeEach(async () => {
      node = await Node.start();
      await node.startPlugin();
    });
    afterEach(() => node.stop());

    test('bolt11 message [amount_msat]: the invoice is read, and refused for what it is', async () => {
      // Expired an hour after it was made: refused whenever this runs.
      node.fake.handle('decode', v26066Reply(DECODE, 'decode-preimage'));
      const answer = await node.call('sendmessage', [bolt11('decode-preimage'), 'hello', 6000]);
      assert.equal((answer.error as { code: number }).code, INVALID_PARAMS);
      assert.match(
        (answer.error as { message: string }).message,
        /^bolt11: the invoice expired \d+ seconds ago$/,
      );
      assert.deepEqual(node.fake.requests.find((r) => r.method === 'decode')?.params, {
        string: bolt11('decode-preimage'),
      });
      // The seed's form is unchanged: a node id first is a destination.
      const seed = await node.call('sendmessage', [PAYER.id, null, 'x', 'hi']);
      assert.match((seed.error as { message: string }).message, /^msatoshi: /);
    });
  },
);

test('payment_data takes bytes from the message: capacity counts it, exactly as a real route fits it', () => {
  // The recorded route to node 3 (2 channels, block 108); lightningd took at most 1164 record
  // bytes with payment_data in the final payload (fixture README: 1200 without it).
  const route = v26066Result<{ routes: GetroutesRoute[] }>(ASKRENE, 'getroutes-with-layer-auto')
    .routes[0] as GetroutesRoute;
  const path = pathFromGetroutes(PAYER.id, route);
  const paymentData = { paymentSecret: new Uint8Array(32), totalMsat: 5000n };
  const fit = largestFitting(path, 108, (n) => ({
    paymentData,
    records: [{ type: DEFAULT_MESSAGE_TLV_TYPE, value: new Uint8Array(n) }],
  }));
  const sizes = { amountMsat: 5000n, blockheight: 108 + 1 + 24 }; // CLTVs count from the height + 1
  assert.equal(fit, maxMessageBytes(2, { ...sizes, extraFinalBytes: paymentDataBytes(5000n) }));
  assert.equal(fit, maxMessageBytes(2, sizes) - paymentDataBytes(5000n));
  assert.equal(fit, 1164);
});
