import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Rpc } from '../cln/rpc.js';
import { HOP_PAYLOADS_SIZE, hopPayloadsSize } from '../onion/sphinx.js';
import { encodeUint, fromHex, toHex } from '../wire/bytes.js';
import { encodeChunk, RECORD, signedPaymentBytes, signedText } from '../wire/message-records.js';
import type { TlvRecord } from '../wire/tlv.js';
import { type FinalContents, onionHops, type PathHop } from './route.js';
import { PaymentGroup, SendError, type Sender, type SendResult } from './sender.js';

export interface MessageSend {
  destination: string;
  /** The payee's hash; without one the message goes as a keysend (spontaneous). */
  paymentHash?: string;
  amountMsat: number;
  message: Uint8Array;
  tlvType: bigint;
  /** Sign with this node's key and name it as the sender. */
  sign: boolean;
  retryForSeconds: number;
  maxFeeMsat: number;
  /** Most HTLCs one message may use: each channel on the way has a limited number of slots. */
  maxParts: number;
  /** HTLCs sent so far (retries included) and how many parts the message has. */
  onProgress?: (sent: number, parts: number) => void;
}

export interface MessageSent {
  paymentHash: string;
  paymentPreimage: string;
  spontaneous: boolean;
  parts: SendResult[];
  feeMsat: number;
  amountSentMsat: number;
}

/** CLTV delta the payee gets on top of the route's. */
export const FINAL_CLTV = 18;

/** The records that name and sign the sender, for this payment, when asked to. */
async function authorRecords(
  rpc: Rpc,
  self: string,
  m: MessageSend,
  paymentHash: string,
): Promise<TlvRecord[]> {
  if (!m.sign) return [];
  const timestampNs = BigInt(Date.now()) * 1_000_000n;
  const signed = signedPaymentBytes(
    fromHex(self),
    fromHex(m.destination),
    fromHex(paymentHash),
    timestampNs,
    m.message,
  );
  const { signature } = await rpc.call<{ signature: string }>('signmessage', { message: signedText(signed) });
  return [
    { type: RECORD.signature, value: fromHex(signature) },
    { type: RECORD.sender, value: fromHex(self) },
    { type: RECORD.timestamp, value: encodeUint(timestampNs, 8) },
  ];
}

/** Largest `n` for which `make(n)` still fits a `path` onion, or -1. */
function largestFitting(
  path: PathHop[],
  blockheight: number,
  senderHop: boolean,
  make: (n: number) => FinalContents,
) {
  const fits = (n: number) =>
    hopPayloadsSize(onionHops(path, blockheight, make(n), senderHop).map((h) => h.payload)) <=
    HOP_PAYLOADS_SIZE;
  let lo = -1;
  let hi = HOP_PAYLOADS_SIZE;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Sends a message: in one HTLC when it fits, else split into chunks over the parts of one
 * multi-part payment (the payee settles only when every chunk is in), or as a keysend when
 * there is no payment hash.
 */
export async function sendMessage(rpc: Rpc, sender: Sender, m: MessageSend): Promise<MessageSent> {
  const group = new PaymentGroup();
  try {
    return await send(rpc, sender, m, group);
  } finally {
    await sender.forget(group);
  }
}

async function send(rpc: Rpc, sender: Sender, m: MessageSend, group: PaymentGroup): Promise<MessageSent> {
  const info = await rpc.call<{ id: string; blockheight: number }>('getinfo');
  const messageRecord = (bytes: Uint8Array): TlvRecord => ({ type: m.tlvType, value: bytes });
  const base = {
    destination: m.destination,
    retryForSeconds: m.retryForSeconds,
    maxFeeMsat: m.maxFeeMsat,
    finalCltv: FINAL_CLTV,
    group,
    node: info,
  };

  if (!m.paymentHash) {
    const preimage = randomBytes(32);
    const paymentHash = toHex(sha256(preimage));
    const author = await authorRecords(rpc, info.id, m, paymentHash);
    const part = await sender.send({
      ...base,
      paymentHash,
      amountMsat: m.amountMsat,
      final: {
        records: [...author, messageRecord(m.message), { type: RECORD.keysendPreimage, value: preimage }],
      },
    });
    return summary(paymentHash, true, [part], m.amountMsat);
  }
  const paymentHash = m.paymentHash;
  // lightningd would answer a paid hash with the old preimage: the new message would go nowhere.
  const { payments } = await rpc.call<{ payments: { payment_hash: string; status: string }[] }>(
    'listsendpays',
    { payment_hash: paymentHash },
  );
  if (payments.some((p) => p.payment_hash === paymentHash && p.status === 'complete')) {
    throw new SendError(
      `payment_hash ${paymentHash} is already paid: a payment settles once, so this message was not sent`,
      [],
      'refused',
    );
  }

  const author = await authorRecords(rpc, info.id, m, paymentHash);
  // Size the message against a real route first: one HTLC if it fits, else chunks.
  const probe = await sender.route(info.id, {
    ...base,
    paymentHash,
    amountMsat: m.amountMsat,
    final: { records: [] },
  });
  const senderHop = sender.sendsWithOwnHop;
  const single = largestFitting(probe, info.blockheight, senderHop, (n) => ({
    records: [...author, messageRecord(new Uint8Array(n))],
  }));
  if (m.message.length <= single) {
    const part = await sender.send({
      ...base,
      firstPath: probe,
      paymentHash,
      amountMsat: m.amountMsat,
      final: { records: [...author, messageRecord(m.message)] },
    });
    return summary(paymentHash, false, [part], m.amountMsat);
  }

  const secret = randomBytes(32);
  const messageId = sha256(m.message).subarray(0, 16);
  const paymentData = { paymentSecret: secret, totalMsat: BigInt(m.amountMsat) };
  const chunkFinal = (extra: TlvRecord[], data: Uint8Array, index: number, count: number): FinalContents => ({
    records: [...extra, { type: RECORD.chunk, value: encodeChunk({ messageId, index, count, data }) }],
    paymentData,
  });
  // Chunks are sized for a path one hop longer than the probe's, so a part that finds a channel
  // full can take a longer way round. Part 0 also carries the sender's records.
  const sizing = [probe[0] as PathHop, ...probe];
  const first = largestFitting(sizing, info.blockheight, senderHop, (n) =>
    chunkFinal(author, new Uint8Array(n), 0, 2),
  );
  const rest = largestFitting(sizing, info.blockheight, senderHop, (n) =>
    chunkFinal([], new Uint8Array(n), 1, 2),
  );
  const largest = Math.max(single, first + (m.maxParts - 1) * rest);
  if (first <= 0 || rest <= 0 || m.message.length > largest) {
    throw new SendError(
      `a ${m.message.length}-byte message does not fit in ${m.maxParts} HTLCs over this ${probe.length}-hop route: at most ${largest} bytes`,
      [],
      'too-large',
    );
  }
  const chunks = [m.message.subarray(0, first)];
  for (let off = first; off < m.message.length; off += rest) chunks.push(m.message.subarray(off, off + rest));
  const count = chunks.length;
  if (m.amountMsat < count) {
    throw new SendError(
      `${m.amountMsat} msat cannot pay ${count} parts: at least ${count} msat`,
      [],
      'too-large',
    );
  }
  let sent = 0;
  m.onProgress?.(0, count);
  // Every part goes out at once; one that finds a channel full tells the group's askrene layer, and
  // the parts routed after it spread over other paths.
  const settled = await Promise.allSettled(
    chunks.map((data, index) =>
      sender.send({
        ...base,
        paymentHash,
        amountMsat: Math.floor(m.amountMsat / count) + (index === count - 1 ? m.amountMsat % count : 0),
        totalMsat: m.amountMsat,
        final: chunkFinal(index === 0 ? author : [], data, index, count),
        onDispatch: () => m.onProgress?.(++sent, count),
      }),
    ),
  );
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const parts = settled.map((r) => (r as PromiseFulfilledResult<SendResult>).value);
  return summary(paymentHash, false, parts, m.amountMsat);
}

function summary(
  paymentHash: string,
  spontaneous: boolean,
  parts: SendResult[],
  amountMsat: number,
): MessageSent {
  const amountSentMsat = parts.reduce((n, p) => n + p.amountSentMsat, 0);
  return {
    paymentHash,
    paymentPreimage: (parts[0] as SendResult).paymentPreimage,
    spontaneous,
    parts,
    amountSentMsat,
    feeMsat: amountSentMsat - amountMsat,
  };
}
