import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Rpc } from '../cln/rpc.js';
import { HOP_PAYLOADS_SIZE, hopPayloadsSize } from '../onion/sphinx.js';
import { encodeUint, fromHex, toHex } from '../wire/bytes.js';
import {
  CHUNK_TOKEN_BYTES,
  encodeChunk,
  RECORD,
  signedPaymentBytes,
  signedText,
} from '../wire/message-records.js';
import type { TlvRecord } from '../wire/tlv.js';
import { type FinalContents, onionHops, type PathHop } from './route.js';
import {
  type NodeInfo,
  PaymentGroup,
  SendError,
  type SendRequest,
  type Sender,
  type SendResult,
} from './sender.js';

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
  /** Awaited once the payment hash is known, before any HTLC leaves; what it throws stops the send. */
  onHash?: (paymentHash: string) => Promise<void>;
  /**
   * Called just before each HTLC's command is sent, in the same tick: a command it sends goes
   * ahead on the connection (work put off until the first HTLC no longer holds it up).
   */
  onSent?: () => void;
  /** Paying an invoice: what it asks of every part's final payload, and its route hints' layers. */
  invoice?: InvoiceTerms;
}

export interface InvoiceTerms {
  /** Goes in every part's payment_data, with the whole amount as its total. */
  paymentSecret: Uint8Array;
  paymentMetadata?: Uint8Array;
  /** The invoice's min_final_cltv_expiry. */
  minFinalCltv: number;
  /** askrene layers getroutes takes on every route (the invoice's route hints). */
  layers: readonly string[];
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

/** Whether an onion over `path` holds `final` as the payee's payload. */
function fitsOnion(path: PathHop[], blockheight: number, final: FinalContents): boolean {
  return hopPayloadsSize(onionHops(path, blockheight, final).map((h) => h.payload)) <= HOP_PAYLOADS_SIZE;
}

/** Largest `n` for which `make(n)` still fits a `path` onion, or -1. */
export function largestFitting(path: PathHop[], blockheight: number, make: (n: number) => FinalContents) {
  const fits = (n: number) => fitsOnion(path, blockheight, make(n));
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
 * Sends a message: in one HTLC when it fits, else in pieces over the parts of one multi-part
 * payment (the payee settles only when every byte is in), or as a keysend when there is no
 * payment hash.
 */
export async function sendMessage(rpc: Rpc, sender: Sender, m: MessageSend): Promise<MessageSent> {
  const group = new PaymentGroup();
  try {
    return await send(rpc, sender, m, group);
  } finally {
    await sender.forget(group);
  }
}

/** Work started now and awaited later: should an earlier step fail first, its failure is dropped, not unhandled. */
function early<T>(work: Promise<T>): Promise<T> {
  work.catch(() => {});
  return work;
}

async function send(rpc: Rpc, sender: Sender, m: MessageSend, group: PaymentGroup): Promise<MessageSent> {
  const self = sender.knownId() ?? (await sender.nodeInfo()).id;
  if (m.destination === self) {
    // lightningd's router cannot route to its own node (askrene's child dies): refuse before it.
    throw new SendError(
      'destination is this node itself: lnmsg sends messages to other nodes',
      [],
      'invalid',
    );
  }
  const keysendPreimage = m.paymentHash ? undefined : randomBytes(32);
  const paymentHash = m.paymentHash ?? toHex(sha256(keysendPreimage as Uint8Array));
  const base = {
    destination: m.destination,
    tlvType: m.tlvType,
    retryForSeconds: m.retryForSeconds,
    maxFeeMsat: m.maxFeeMsat,
    finalCltv: Math.max(FINAL_CLTV, m.invoice?.minFinalCltv ?? 0),
    group,
    paymentHash,
    layers: m.invoice?.layers,
  };
  // An invoice's payee reads its secret (and the whole amount) in every part: it takes bytes from the message.
  const invoiced: Omit<FinalContents, 'records'> = m.invoice
    ? {
        paymentData: { paymentSecret: m.invoice.paymentSecret, totalMsat: BigInt(m.amountMsat) },
        ...(m.invoice.paymentMetadata ? { paymentMetadata: m.invoice.paymentMetadata } : {}),
      }
    : {};
  // None of these needs another's answer, so lightningd gets them all at once: the route first,
  // as askrene works on it while lightningd answers the others. The outbox claim (in memory; its
  // write goes with the first HTLC, see onSent) is awaited only as the first HTLC is about to
  // leave (Sender.sendonion). (A hash already paid shows in lightningd's answer to sendonion,
  // which then sends nothing: see Sender.) The route sizes the message: one HTLC if it fits,
  // else pieces.
  const route = early(sender.route(self, { ...base, amountMsat: m.amountMsat, final: { records: [] } }));
  const claimed = early(Promise.resolve(m.onHash?.(paymentHash)));
  const nodeInfo = early(sender.nodeInfo());
  const signed = early(authorRecords(rpc, self, m, paymentHash));
  try {
    return await dispatch(
      sender,
      m,
      { ...base, claimed },
      { keysendPreimage, invoiced, signed, route, nodeInfo },
    );
  } catch (e) {
    // Whatever failed, the claim has its say first (a send to the hash still going on), and the
    // outbox hears of the failure only once the claim is taken.
    await claimed;
    throw e;
  }
}

/** The HTLCs of a message, once its route, height and author records are in. */
async function dispatch(
  sender: Sender,
  m: MessageSend,
  base: Omit<SendRequest, 'amountMsat' | 'final'>,
  asked: {
    keysendPreimage?: Uint8Array;
    invoiced: Omit<FinalContents, 'records'>;
    signed: Promise<TlvRecord[]>;
    route: Promise<PathHop[]>;
    nodeInfo: Promise<NodeInfo>;
  },
): Promise<MessageSent> {
  const { keysendPreimage, invoiced } = asked;
  const { paymentHash } = base;
  const messageRecord = (bytes: Uint8Array): TlvRecord => ({ type: m.tlvType, value: bytes });
  const author = await asked.signed;
  const probe = await asked.route;
  const info = await asked.nodeInfo;
  const sending = { ...base, node: info, firstPath: probe, amountMsat: m.amountMsat, onDispatch: m.onSent };

  if (keysendPreimage) {
    const part = await sender.send({
      ...sending,
      final: {
        records: [
          ...author,
          messageRecord(m.message),
          { type: RECORD.keysendPreimage, value: keysendPreimage },
        ],
      },
    });
    return summary(paymentHash, true, [part], m.amountMsat);
  }
  const whole: FinalContents = { ...invoiced, records: [...author, messageRecord(m.message)] };
  if (fitsOnion(probe, info.blockheight, whole)) {
    const part = await sender.send({ ...sending, final: whole });
    return summary(paymentHash, false, [part], m.amountMsat);
  }
  // Too large for one HTLC: the largest that is sizes the pieces.
  const single = largestFitting(probe, info.blockheight, (n) => ({
    ...invoiced,
    records: [...author, messageRecord(new Uint8Array(n))],
  }));
  const parts = await sendInPieces(sender, m, { ...base, node: info }, author, invoiced, probe, single);
  return summary(paymentHash, false, parts, m.amountMsat);
}

/**
 * A message over the parts of one payment. Pieces are cut to what the best route carries; a part
 * that has to take a longer way round is cut again to fit it, so no piece is made small in advance.
 */
async function sendInPieces(
  sender: Sender,
  m: MessageSend,
  base: Omit<SendRequest, 'amountMsat' | 'final'>,
  author: TlvRecord[],
  invoiced: Omit<FinalContents, 'records'>,
  probe: PathHop[],
  single: number,
): Promise<SendResult[]> {
  const blockheight = (base.node as { blockheight: number }).blockheight;
  const total = m.message.length;
  const token = randomBytes(CHUNK_TOKEN_BYTES);
  const messageId = sha256(m.message).subarray(0, 16);
  const piece = (offset: number, data: Uint8Array, of = total): FinalContents => ({
    ...invoiced,
    records: [
      ...(offset === 0 ? author : []),
      {
        type: RECORD.chunk,
        value: encodeChunk({ token, offset, total: of, ...(offset === 0 ? { messageId } : {}), data }),
      },
    ],
  });
  // Trial pieces may run past the message's end; the total is fixed-width, so any consistent one sizes alike.
  const fitAt = (path: PathHop[], offset: number) =>
    largestFitting(path, blockheight, (n) => {
      const data = new Uint8Array(Math.max(1, n));
      return piece(offset, data, Math.max(total, offset + data.length));
    });
  const first = fitAt(probe, 0);
  const rest = fitAt(probe, 1);
  const largest = Math.max(single, first + (m.maxParts - 1) * rest);
  if (first <= 0 || rest <= 0 || total > largest) {
    throw new SendError(
      `a ${total}-byte message does not fit in ${m.maxParts} HTLCs over this ${probe.length}-hop route: at most ${largest} bytes`,
      [],
      'too-large',
    );
  }
  const cuts = [0, first];
  while ((cuts.at(-1) as number) < total) cuts.push(Math.min(total, (cuts.at(-1) as number) + rest));
  // Each piece pays its share; cutting a piece again splits exactly its share.
  const paid = (offset: number) => Math.floor((m.amountMsat * offset) / total);
  let count = cuts.length - 1;
  if (paid(first) < 1 || m.amountMsat < count) {
    throw new SendError(
      `${m.amountMsat} msat cannot pay ${count} parts: at least ${count} msat`,
      [],
      'too-large',
    );
  }
  let sent = 0;
  m.onProgress?.(0, count);
  const sendPiece = async (start: number, end: number, firstPath?: PathHop[]): Promise<SendResult[]> => {
    const amountMsat = paid(end) - paid(start);
    try {
      if (amountMsat < 1)
        throw new SendError(`${m.amountMsat} msat cannot pay ${count} parts`, [], 'too-large');
      const part = await sender.send({
        ...base,
        amountMsat,
        totalMsat: m.amountMsat,
        final: piece(start, m.message.subarray(start, end)),
        firstPath,
        onDispatch: () => {
          m.onSent?.();
          m.onProgress?.(++sent, count);
        },
      });
      return [part];
    } catch (e) {
      // Found only a longer way round: cut the piece to what that path carries, send both halves.
      if (!(e instanceof SendError && e.kind === 'too-large' && e.path) || count >= m.maxParts) throw e;
      const n = fitAt(e.path, start);
      if (n <= 0 || n >= end - start) throw e;
      count++;
      const halves = await Promise.all([sendPiece(start, start + n, e.path), sendPiece(start + n, end)]);
      return halves.flat();
    }
  };
  // Every part goes out at once; one that finds a channel full tells the group's askrene layer,
  // and the parts routed after it spread over other paths.
  const settled = await Promise.allSettled(cuts.slice(1).map((end, i) => sendPiece(cuts[i] as number, end)));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.flatMap((r) => (r as PromiseFulfilledResult<SendResult[]>).value);
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
