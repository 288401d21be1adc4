import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PaymentGroup, type SendError, Sender, type SendRequest } from '../src/send/sender.js';
import { fromHex } from '../src/wire/bytes.js';
import { decodeHopPayload, stripLengthPrefix } from '../src/wire/hop-payload.js';
import { scidToString } from '../src/wire/scid.js';
import { DEFAULT_MESSAGE_TLV_TYPE } from '../src/index.js';
import { FIXTURES, resultLike, rpcRecord } from './support/fake-lightningd.js';
import { payerNodeForEachTest } from './support/payer.js';
import { needsShared } from './support/shared.js';

/** What record.py's sender asked for in a recorded run, as a lnmsg SendRequest. */
function recordedRequest(run: string, message?: Uint8Array): SendRequest {
  const routes = rpcRecord(`${run}/getroutes`).request.params as Record<string, unknown>;
  const createonion = rpcRecord(`${run}/createonion`).request.params as { assocdata: string };
  return {
    destination: routes.destination as string,
    paymentHash: createonion.assocdata,
    amountMsat: routes.amount_msat as number,
    finalCltv: routes.final_cltv as number,
    maxFeeMsat: routes.maxfee_msat as number,
    retryForSeconds: 0,
    group: new PaymentGroup(),
    final: { records: message ? [{ type: DEFAULT_MESSAGE_TLV_TYPE, value: message }] : [] },
  };
}

/** The message bytes record.py put in a recorded final payload (after its 34349334 record header). */
function recordedMessage(run: string): Uint8Array {
  const { hops } = rpcRecord(`${run}/createonion`).request.params as { hops: { payload: string }[] };
  const payload = (hops.at(-1) as { payload: string }).payload;
  const at = payload.indexOf('fe020c2116');
  return fromHex(payload.slice(at + 12));
}

/**
 * The request of a recorded run that paid an invoice: record.py's final payload carried
 * payment_data (its secret, the invoice total) instead of a message.
 */
function invoicePaymentRequest(run: string, totalMsat: bigint): SendRequest {
  const { hops } = rpcRecord(`${run}/createonion`).request.params as { hops: { payload: string }[] };
  const payload = (hops.at(-1) as { payload: string }).payload;
  const at = payload.indexOf('0822') + 4; // payment_data: type 8, length 34
  return {
    ...recordedRequest(run),
    final: { records: [], paymentData: { paymentSecret: fromHex(payload.slice(at, at + 64)), totalMsat } },
  };
}

describe('Sender against recorded lightningd replies', needsShared(...FIXTURES), () => {
  const node = payerNodeForEachTest();

  /** Onion hops as createonion takes them: each payload decoded, with its node and its size. */
  const readHops = (hops: { pubkey: string; payload: string }[]) =>
    hops.map((h) => ({
      pubkey: h.pubkey,
      bytes: h.payload.length / 2,
      ...decodeHopPayload(stripLengthPrefix(fromHex(h.payload))),
    }));
  type Hops = { hops: { pubkey: string; payload: string }[] };
  const sentHops = () =>
    readHops((node.fake.requests.filter((r) => r.method === 'createonion').at(-1)?.params as Hops).hops);
  /**
   * The hops record.py took, with CLTVs one block later: it counted from getinfo's height, lnmsg
   * counts from one more (route.ts cltvBase, as xpay). The rest is byte for byte the same.
   */
  const recordedHops = (run: string) =>
    readHops((rpcRecord(`${run}/createonion`).request.params as Hops).hops).map((h) => ({
      ...h,
      outgoingCltvValue: (h.outgoingCltvValue as number) + 1,
    }));

  const sendonionReplies = (run: string) => {
    for (const m of ['getroutes', 'createonion', 'sendonion', 'waitsendpay'])
      node.fake.replyWith(m, `${run}/${m}`);
  };

  test('sendonion: our onion hops are the ones real lightningd took; first hop outside the onion', async () => {
    const run = 'sendonion-success';
    sendonionReplies(run);
    const r = await new Sender(node.rpc).send(invoicePaymentRequest(run, 5000n));
    assert.deepEqual(sentHops(), recordedHops(run), 'the same hop payloads, no own hop');
    // The payee's CLTV: getinfo's height, plus 1, plus the route's final delta.
    const { blockheight } = rpcRecord('getinfo').reply.result as { blockheight: number };
    const { final_cltv } = rpcRecord(`${run}/getroutes`).request.params as { final_cltv: number };
    assert.equal(sentHops().at(-1)?.outgoingCltvValue, blockheight + 1 + final_cltv);
    assert.equal(r.method, 'sendonion');
    const wait = rpcRecord(`${run}/waitsendpay`).reply.result as { payment_preimage: string };
    assert.equal(r.paymentPreimage, wait.payment_preimage);
    const sent = node.fake.requests.find((q) => q.method === 'sendonion')?.params as Record<string, unknown>;
    const recorded = rpcRecord(`${run}/sendonion`).request.params as Record<string, unknown>;
    assert.deepEqual(sent.first_hop, recorded.first_hop);
    assert.equal(r.amountSentMsat, (recorded.first_hop as { amount_msat: number }).amount_msat);
    assert.deepEqual(
      node.fake.requests.map((q) => q.method),
      ['getinfo', 'getroutes', 'createonion', 'sendonion', 'waitsendpay'],
    );
  });

  test('a node before v26.06: getroutes paths in the old form give the same onion', async () => {
    const run = 'sendonion-success';
    sendonionReplies(run);
    // getroutes as v24.11-v25.12 described a path (their schema): next_node_id, amount_msat = what
    // enters the channel, delay = the CLTV its near node expects.
    node.fake.handle('getroutes', (req) => {
      const reply = rpcRecord(`${run}/getroutes`).reply.result as {
        routes: { path: Record<string, unknown>[] }[];
      };
      const routes = reply.routes.map((r) => ({
        ...r,
        path: r.path.map((h) => ({
          short_channel_id_dir: h.short_channel_id_dir,
          next_node_id: h.node_id_out,
          amount_msat: h.amount_in_msat,
          delay: h.cltv_in,
        })),
      }));
      return resultLike(`${run}/getroutes`, req.id, { ...reply, routes });
    });
    const req = invoicePaymentRequest(run, 5000n);
    const progress: number[] = [];
    req.onDispatch = () => progress.push(1);
    await new Sender(node.rpc).send(req);
    assert.deepEqual(sentHops(), recordedHops(run), 'the same hops from the old path form');
    assert.equal(progress.length, 1, 'one HTLC went out');
  });

  test('sendonion failure: waitsendpay 204 names the payee, the send is refused at once', async () => {
    const run = 'htlc-sendonion';
    sendonionReplies(run);
    const err = (await new Sender(node.rpc).send(recordedRequest(run, recordedMessage(run))).then(
      () => assert.fail('the recorded payment failed'),
      (e: unknown) => e,
    )) as SendError;
    assert.equal(err.kind, 'refused');
    assert.equal(err.failures[0]?.codeName, 'invalid_onion_payload');
    assert.equal(
      node.fake.requests.filter((q) => q.method === 'sendonion').length,
      1,
      'no retry after the payee said no',
    );
  });

  test('without askrene: the recorded getroute reply becomes the onion real lightningd would forward', async () => {
    // No getroutes handler: the fake answers as lightningd does an unknown command.
    node.fake.replyWith('getroute', 'getroute-with-deprecations');
    for (const m of ['createonion', 'sendonion', 'waitsendpay'])
      node.fake.replyWith(m, `sendonion-success/${m}`);
    const req = recordedRequest('htlc-sendonion', new Uint8Array(4));
    await new Sender(node.rpc).send(req);
    const payloads = sentHops();
    // getroute: 1001 msat over 103x1x0 (delay 15), 1000 over 103x2x0 (delay 9); block 108, + 1.
    assert.deepEqual(
      payloads.map((p) => [
        p.amtToForward,
        p.outgoingCltvValue,
        p.shortChannelId && scidToString(p.shortChannelId),
      ]),
      [
        [1000n, 118, '103x2x0'],
        [1000n, 118, undefined],
      ],
    );
    const sent = node.fake.requests.find((q) => q.method === 'sendonion')?.params as { first_hop: unknown };
    assert.deepEqual(sent.first_hop, {
      id: '02a17c704b62a52d933aa011699956bcec9529adbc1e1d8e709a682895e77e9164',
      amount_msat: 1001,
      delay: 15,
    });
  });

  test('askrene finds no route (recorded 215): a no-route error quoting it, nothing sent', async () => {
    node.fake.replyWith('getroutes', 'getroutes-too-large');
    const req = recordedRequest('htlc-sendonion', new Uint8Array(10));
    const err = (await new Sender(node.rpc).send(req).then(
      () => assert.fail('no route'),
      (e: unknown) => e,
    )) as SendError;
    assert.equal(err.kind, 'no-route');
    assert.match(err.message, /could not find a usable set of paths/);
    assert.ok(!node.fake.requests.some((q) => q.method === 'createonion'));
  });
});
