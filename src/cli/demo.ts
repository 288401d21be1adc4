import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { DEFAULT_MESSAGE_TLV_TYPE } from '../onion/capacity.js';
import { buildOnion, peelOnion } from '../onion/sphinx.js';
import { indexOfBytes, toHex, utf8 } from '../wire/bytes.js';
import {
  decodeHopPayload,
  encodeFinalPayload,
  encodeIntermediatePayload,
  withLengthPrefix,
} from '../wire/hop-payload.js';
import { scidToString } from '../wire/scid.js';

export interface DemoHop {
  name: string;
  nodeId: string;
  final: boolean;
  sees: { amountMsat: string; outgoingCltv: number; nextChannel?: string; message?: string };
  messageVisible: boolean;
}

export interface DemoResult {
  paymentHash: string;
  onionBytes: number;
  messageBytes: number;
  hops: DemoHop[];
}

const NAMES = ['Alice', 'Bob', 'Carol (the payee)'];
const FEE_MSAT = 30n;
const CLTV_DELTA = 34;

/** Builds a real onion for a 3-hop route with fresh keys and peels it as each node would. */
export function runDemo(message: Uint8Array, tlvType = DEFAULT_MESSAGE_TLV_TYPE): DemoResult {
  const keys = NAMES.map(() => secp256k1.utils.randomSecretKey());
  const pubkeys = keys.map((k) => secp256k1.getPublicKey(k, true));
  const amount = 100_000n;
  const cltv = 900_018;
  const payloads = NAMES.map((_, i) => {
    const remaining = NAMES.length - 1 - i;
    // A forwarder passes on what the hops after it need: the payee's amount plus their fees.
    const hopAmount = amount + FEE_MSAT * BigInt(Math.max(0, remaining - 1));
    const hopCltv = cltv + CLTV_DELTA * Math.max(0, remaining - 1);
    return withLengthPrefix(
      remaining === 0
        ? encodeFinalPayload({
            amtToForward: amount,
            outgoingCltvValue: cltv,
            customRecords: [{ type: tlvType, value: message }],
          })
        : encodeIntermediatePayload({
            amtToForward: hopAmount,
            outgoingCltvValue: hopCltv,
            shortChannelId: (BigInt(800_000 + i) << 40n) | (1n << 16n),
          }),
    );
  });
  const paymentHash = randomBytes(32);
  const { packet } = buildOnion(
    pubkeys.map((pubkey, i) => ({ pubkey, payload: payloads[i] as Uint8Array })),
    randomBytes(32),
    paymentHash,
  );

  const hops: DemoHop[] = [];
  let current = packet;
  for (const [i, key] of keys.entries()) {
    const peeled = peelOnion(current, key, paymentHash);
    const p = decodeHopPayload(peeled.payload);
    const record = p.customRecords.find((r) => r.type === tlvType);
    hops.push({
      name: NAMES[i] as string,
      nodeId: toHex(pubkeys[i] as Uint8Array),
      final: peeled.isFinal,
      sees: {
        amountMsat: String(p.amtToForward),
        outgoingCltv: p.outgoingCltvValue as number,
        nextChannel: p.shortChannelId === undefined ? undefined : scidToString(p.shortChannelId),
        message: record ? utf8.decode(record.value) : undefined,
      },
      messageVisible: message.length > 0 && indexOfBytes(peeled.payload, message) >= 0,
    });
    current = peeled.nextOnion;
  }
  return { paymentHash: toHex(paymentHash), onionBytes: packet.length, messageBytes: message.length, hops };
}

export function formatDemo(r: DemoResult): string {
  const lines = [
    'lnmsg demo: a message inside a real 3-hop onion (fresh keys), peeled as the network would',
    '',
    `payment hash ${r.paymentHash}`,
    `onion packet ${r.onionBytes} bytes; message ${r.messageBytes} bytes, for the payee alone`,
    '',
  ];
  for (const [i, h] of r.hops.entries()) {
    lines.push(`hop ${i + 1}: ${h.name}  ${h.nodeId.slice(0, 16)}…`);
    if (h.final) {
      lines.push(`  final hop: receives ${h.sees.amountMsat} msat, cltv ${h.sees.outgoingCltv}`);
      lines.push(`  message: ${JSON.stringify(h.sees.message)}`);
    } else {
      lines.push(
        `  forwards ${h.sees.amountMsat} msat on channel ${h.sees.nextChannel}, cltv ${h.sees.outgoingCltv}`,
      );
      lines.push(`  message visible: ${h.messageVisible ? 'YES (this is a bug)' : 'no'}`);
    }
  }
  return lines.join('\n');
}
