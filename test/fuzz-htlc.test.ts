import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import type { HtlcAcceptedResult } from '../src/cln/hook-types.js';
import {
  decodeFailureMessage,
  decodeRefusal,
  encodeBigSize,
  encodeFinalPayload,
  encodeTlvRecord,
  fromHex,
  RECORD,
  toHex,
  withLengthPrefix,
} from '../src/index.js';
import { htlcAccepted } from '../src/receive/hook.js';
import { RECEIVER_DEFAULTS } from '../src/receive/config.js';
import { Receiver } from '../src/receive/receiver.js';
import { MemoryKv } from '../src/store/kv.js';
import { MessageStore } from '../src/store/messages.js';
import { recordedFinalHtlc } from './support/htlc.js';
import { needsShared } from './support/shared.js';

const RUNS = 100_000;
const TYPE = 34349334n;

/** Ways a payload can be wrong; each starts from a valid one. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('valid' as const) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('length' as const), length: fc.integer({ min: 0, max: 70000 }) }),
  fc.record({ kind: fc.constant('duplicate' as const) }),
  fc.record({ kind: fc.constant('disorder' as const) }),
  fc.record({
    kind: fc.constant('unknownEven' as const),
    type: fc.integer({ min: 0, max: 30000 }).map((n) => 2 * n),
  }),
  fc.record({ kind: fc.constant('giant' as const), size: fc.integer({ min: 1025, max: 4000 }) }),
  fc.record({ kind: fc.constant('badUtf8' as const) }),
  fc.record({ kind: fc.constant('chunk' as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('keysend' as const), preimage: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
);

const htlcShape = fc.record({
  ours: fc.boolean(),
  amountMsat: fc.oneof(fc.constant(1000), fc.integer({ min: 0, max: 2 ** 40 })),
  cltvRelative: fc.integer({ min: -5, max: 200 }),
  mutation,
  message: fc.uint8Array({ maxLength: 200 }),
});

function payloadHex(m: { kind: string } & Record<string, unknown>, message: Uint8Array): string {
  const rec = (type: bigint, value: Uint8Array) => encodeTlvRecord({ type, value });
  const amt = rec(2n, Uint8Array.of(0x03, 0xe8));
  const cltv = rec(4n, Uint8Array.of(0x7e));
  const msg = rec(TYPE, message);
  const valid = encodeFinalPayload({
    amtToForward: 1000n,
    outgoingCltvValue: 126,
    customRecords: [{ type: TYPE, value: message }],
  });
  const framed = (tlv: Uint8Array) => toHex(withLengthPrefix(tlv));
  const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
  switch (m.kind) {
    case 'truncate': {
      const full = withLengthPrefix(valid);
      return toHex(full.subarray(0, (m.at as number) % full.length));
    }
    case 'flip': {
      const full = withLengthPrefix(valid);
      full[(m.at as number) % full.length] = m.byte as number;
      return toHex(full);
    }
    case 'length':
      return toHex(cat(encodeBigSize(m.length as number), valid));
    case 'duplicate':
      return framed(cat(amt, amt, cltv, msg));
    case 'disorder':
      return framed(cat(cltv, amt, msg));
    case 'unknownEven':
      return framed(cat(amt, cltv, rec(BigInt(m.type as number) + 6n, Uint8Array.of(1)), msg));
    case 'giant':
      return framed(cat(amt, cltv, rec(TYPE, new Uint8Array(m.size as number))));
    case 'badUtf8':
      return framed(cat(amt, cltv, rec(TYPE, Uint8Array.of(0xc3, 0x28, 0xff, 0xfe))));
    case 'chunk':
      return framed(cat(amt, cltv, rec(8n, new Uint8Array(33)), rec(RECORD.chunk, m.bytes as Uint8Array)));
    case 'keysend':
      return framed(cat(amt, cltv, msg, rec(RECORD.keysendPreimage, m.preimage as Uint8Array)));
    case 'random':
      return toHex(m.bytes as Uint8Array);
    default:
      return framed(valid);
  }
}

test(
  `htlc_accepted: ${RUNS.toLocaleString('en-US')} generated HTLCs all get a well-formed answer`,
  needsShared('fixtures'),
  async () => {
    const store = new MessageStore(new MemoryKv());
    const receiver = new Receiver(store, {
      ...RECEIVER_DEFAULTS,
      tlvType: TYPE,
      nodeId: fromHex(`02${'11'.repeat(32)}`),
      maxMessageBytes: 1024,
      mppTimeoutSeconds: 0.001,
    });
    const template = recordedFinalHtlc();
    const counts: Record<string, number> = {};
    let id = 0;
    await fc.assert(
      fc.asyncProperty(htlcShape, async (h) => {
        const inv = h.ours ? await receiver.newInvoice({ amountMsat: 1000 }) : undefined;
        const hash = inv?.paymentHash ?? toHex(randomBytes(32));
        const height = template.htlc.cltv_expiry - template.htlc.cltv_expiry_relative;
        const request = {
          ...template,
          onion: { ...template.onion, payload: payloadHex(h.mutation, h.message) },
          htlc: {
            ...template.htlc,
            id: id++,
            payment_hash: hash,
            amount_msat: h.amountMsat,
            cltv_expiry: height + h.cltvRelative,
            cltv_expiry_relative: h.cltvRelative,
          },
        };
        const r: HtlcAcceptedResult = await htlcAccepted(receiver, request);
        counts[r.result] = (counts[r.result] ?? 0) + 1;
        if (r.result === 'fail') {
          assert.match(r.failure_message, /^(400f[0-9a-f]{24}([0-9a-f]{2})*|0017)$/);
          const trailing = decodeFailureMessage(fromHex(r.failure_message)).trailing;
          if (trailing) assert.ok(decodeRefusal(trailing), 'what follows the BOLT 4 fields is a refusal');
        } else if (r.result === 'resolve') assert.equal(toHex(sha256(fromHex(r.payment_key))), hash);
        else assert.deepEqual(r, { result: 'continue' });
        // Only a well-formed payment for one of our hashes settles.
        if (r.result === 'resolve') assert.ok(inv || h.mutation.kind === 'keysend');
      }),
      { numRuns: RUNS },
    );
    assert.ok(
      (counts.fail ?? 0) > 0 && (counts.resolve ?? 0) > 0 && (counts.continue ?? 0) > 0,
      JSON.stringify(counts),
    );
  },
);
