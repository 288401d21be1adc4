import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  encodeFinalPayload,
  encodeIntermediatePayload,
  type OnionHop,
  type PeeledHop,
  peelOnion,
  withLengthPrefix,
} from '../../src/index.js';

export interface TestNode {
  secretKey: Uint8Array;
  pubkey: Uint8Array;
}

export function randomNodes(n: number): TestNode[] {
  return Array.from({ length: n }, () => {
    const secretKey = secp256k1.utils.randomSecretKey();
    return { secretKey, pubkey: secp256k1.getPublicKey(secretKey, true) };
  });
}

/** Onion hops for a route of `nodes`: forwarding payloads, then a final payload with the message record. */
export function messageRoute(
  nodes: TestNode[],
  message: Uint8Array,
  opts: { tlvType: bigint; amountMsat: bigint; cltv: number },
): OnionHop[] {
  return nodes.map((node, i) => ({
    pubkey: node.pubkey,
    payload: withLengthPrefix(
      i < nodes.length - 1
        ? encodeIntermediatePayload({
            amtToForward: opts.amountMsat,
            outgoingCltvValue: opts.cltv,
            shortChannelId: BigInt(i + 1) << 40n,
          })
        : encodeFinalPayload({
            amtToForward: opts.amountMsat,
            outgoingCltvValue: opts.cltv,
            customRecords: [{ type: opts.tlvType, value: message }],
          }),
    ),
  }));
}

/** Peels the packet at every node in turn, as the network would. */
export function peelAll(packet: Uint8Array, nodes: TestNode[], assocData: Uint8Array): PeeledHop[] {
  const out: PeeledHop[] = [];
  let current = packet;
  for (const node of nodes) {
    const hop = peelOnion(current, node.secretKey, assocData);
    out.push(hop);
    current = hop.nextOnion;
  }
  return out;
}
