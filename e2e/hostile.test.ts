import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RpcError } from '../src/cln/rpc.js';
import {
  DEFAULT_MESSAGE_TLV_TYPE,
  encodeBigSize,
  encodeTlvRecord,
  toHex,
  utf8,
  withLengthPrefix,
} from '../src/index.js';
import {
  cltvBase,
  type GetroutesRoute,
  onionHops,
  type PathHop,
  pathFromGetroutes,
} from '../src/send/route.js';
import { networkForSuite } from './support/network.js';

const INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS = 0x400f;
const INVALID_ONION_PAYLOAD = 0x4016;
const INVALID_ONION_VERSION = 0xc004;
const INVALID_ONION_HMAC = 0xc005;
const INVALID_ONION_KEY = 0xc006;

describe('hostile onions built with createonion: each fails cleanly, the lnmsg node keeps serving', () => {
  const suite = networkForSuite();

  /** The route 1 -> 2 -> 3 for `amount` and node 1's block height. */
  async function route(amountMsat: number) {
    const source = await suite.net.id(1);
    const { routes } = await suite.net.call<{ routes: GetroutesRoute[] }>(1, 'getroutes', {
      source,
      destination: suite.payee,
      amount_msat: amountMsat,
      layers: ['auto.localchans', 'auto.sourcefree'],
      maxfee_msat: 10_000,
      final_cltv: 18,
    });
    const { blockheight } = await suite.net.call<{ blockheight: number }>(1, 'getinfo');
    return { path: pathFromGetroutes(source, routes[0] as GetroutesRoute), blockheight };
  }

  /**
   * Sends one HTLC whose final payload is `tlv` (the TLV stream; its length prefix is added, so
   * the onion itself is sound) and returns the BOLT 4 failure code and whether the payee sent it
   * (code 0: it settled).
   */
  async function sendRaw(
    paymentHash: string,
    tlv: Uint8Array,
    amountMsat = 1000,
  ): Promise<{ code: number; fromPayee: boolean }> {
    const { path, blockheight } = await route(amountMsat);
    const hops = onionHops(path, blockheight, { records: [] });
    const last = hops.length - 1;
    const payloads = hops.map((h, i) => toHex(i === last ? withLengthPrefix(tlv) : h.payload));
    const onion = await suite.net.call<{ onion: string; shared_secrets: string[] }>(1, 'createonion', {
      hops: hops.map((h, i) => ({ pubkey: toHex(h.pubkey), payload: payloads[i] })),
      assocdata: paymentHash,
    });
    const first = path[0] as PathHop;
    await suite.net.call(1, 'sendonion', {
      onion: onion.onion,
      first_hop: { id: first.node_id_out, amount_msat: first.amount_out_msat, delay: first.cltv_out },
      payment_hash: paymentHash,
      shared_secrets: onion.shared_secrets,
    });
    try {
      await suite.net.call(1, 'waitsendpay', { payment_hash: paymentHash, timeout: 60 });
      return { code: 0, fromPayee: true };
    } catch (e) {
      assert.ok(e instanceof RpcError, String(e));
      const data = e.data as { failcode?: number; erring_index?: number };
      return { code: data.failcode ?? -1, fromPayee: data.erring_index === path.length };
    }
  }

  const rec = (type: bigint, value: Uint8Array) => encodeTlvRecord({ type, value });
  const amt = (msat: number) => rec(2n, Uint8Array.of(msat >> 8, msat & 0xff));
  const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
  const cltv = async () => {
    const { blockheight } = await route(1000);
    const v = cltvBase(blockheight) + 18;
    return rec(4n, Uint8Array.of(v >> 8, v & 0xff).subarray(v < 256 ? 1 : 0));
  };
  const message = (text: string) => rec(DEFAULT_MESSAGE_TLV_TYPE, utf8.encode(text));

  test('malformed payloads for an lnmsg hash: failed as for any hash when unreadable, refused when readable, nothing stored', async () => {
    const lightningd = readFileSync(join(suite.net.nodeDir(3), 'pid'), 'utf8').trim();
    const pluginPid = () =>
      execFileSync('pgrep', ['-P', lightningd, '-f', 'lnmsg-plugin'], { encoding: 'utf8' }).trim();
    const pid = pluginPid();
    const c = await cltv();
    // Payloads that do not parse: lnmsg hands them on, and lightningd fails them as for any hash.
    const unreadable: [string, Uint8Array][] = [
      [
        'a record running past the end',
        cat(amt(1000), c, encodeBigSize(34349334n), Uint8Array.of(200, 1, 2)),
      ],
      ['types out of order', cat(c, amt(1000), message('disorder'))],
      ['a duplicate type', cat(amt(1000), amt(1000), c, message('twice'))],
      [
        'an unknown even type beside the message',
        cat(amt(1000), c, rec(70_000n, Uint8Array.of(1)), message('x')),
      ],
      ['a non-minimal amount', cat(rec(2n, Uint8Array.of(0, 0x03, 0xe8)), c, message('pad'))],
    ];
    for (const [what, tlv] of unreadable) {
      const hash = await suite.net.call<string>(3, 'receivemessage_new', { amount_msat: 1000 });
      const ours = await sendRaw(hash, tlv);
      assert.equal(ours.fromPayee, true, what);
      assert.deepEqual(ours, await sendRaw(toHex(randomBytes(32)), tlv), `${what}: as for nobody's hash`);
      assert.equal(await suite.net.call(3, 'receivemessage_poll', { payment_hash: hash }), null, what);
    }
    const cases: [string, Uint8Array, number?][] = [
      ['no message record', cat(amt(1000), c)],
      ['amt_to_forward above what arrived', cat(amt(5000), c, message('greedy'))],
      ['less than the payee asked for', cat(amt(500), c, message('short')), 500],
    ];
    for (const [what, tlv, amount] of cases) {
      const hash = await suite.net.call<string>(3, 'receivemessage_new', { amount_msat: 1000 });
      assert.deepEqual(
        await sendRaw(hash, tlv, amount),
        { code: INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, fromPayee: true },
        what,
      );
      assert.equal(await suite.net.call(3, 'receivemessage_poll', { payment_hash: hash }), null, what);
    }
    // Random bytes as the whole final payload, for lnmsg's hashes and for unknown ones.
    for (let i = 0; i < 20; i++) {
      const ours = i % 2 === 0;
      const hash = ours
        ? await suite.net.call<string>(3, 'receivemessage_new', { amount_msat: 1000 })
        : toHex(randomBytes(32));
      const { code, fromPayee } = await sendRaw(hash, randomBytes(1 + ((i * 37) % 400)));
      // A payload lightningd cannot even frame fails as a malformed onion, reported by node 2.
      const expected = fromPayee
        ? [INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, INVALID_ONION_PAYLOAD]
        : [INVALID_ONION_HMAC, INVALID_ONION_VERSION, INVALID_ONION_KEY];
      assert.ok(expected.includes(code), `random payload ${i}: failcode ${code.toString(16)}`);
    }
    assert.equal(pluginPid(), pid, 'the plugin never restarted');
    // ...and it still serves: a real message goes through.
    const hash = await suite.net.call<string>(3, 'receivemessage_new');
    const sent = await suite.net.call<{ status: string }>(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 1000,
      message: 'still here',
    });
    assert.equal(sent.status, 'complete');
  });

  test('a well-formed message to a hash lnmsg did not make is refused as unknown, not as unreadable', async () => {
    const c = await cltv();
    const r = await sendRaw(toHex(randomBytes(32)), cat(amt(1000), c, message('to nobody')));
    // Left to lightningd it would be invalid_onion_payload, which reads as "the payee has no lnmsg".
    assert.deepEqual(r, { code: INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS, fromPayee: true });
  });
});
