import { sha256 } from '@noble/hashes/sha2.js';
import {
  APP_RECORD,
  CHUNK_TOKEN_BYTES,
  encodeChunk,
  encodeFinalPayload,
  type PaymentData,
  RECORD,
  type TlvRecord,
  toHex,
  utf8,
} from '../../src/index.js';
import { invoiceSecret, type ModelHtlc } from './lightningd-model.js';

export const MESSAGE_TYPE = RECORD.message;

/** The payee's hashes a schedule pays: lnmsg's seed flow, its BOLT 11 invoices, the operator's own, keysends. */
export type HashKind = 'seed' | 'bolt11' | 'node' | 'keysend';

export interface PayeeHash {
  name: string;
  kind: HashKind;
  hash: string;
  preimage: Uint8Array;
  /** An invoice's payment secret (lightningd's). */
  secret?: Uint8Array;
  amountMsat: number;
  hold: boolean;
  expiresAt: number;
}

/** Who pays: the invoice's payer, another one who has the invoice too, or a node on the route. */
export type Role = 'honest' | 'rival' | 'forger';
/**
 * What a payment carries: one message record; a message cut in chunks; the same message record
 * in every part (as LND repeats records); a boostagram record in every part; or nothing of its own.
 */
export type Shape = 'single' | 'chunks' | 'repeated' | 'records' | 'plain';

/** What a forger puts where the payer's credential goes. */
export type Forgery = 'no-secret' | 'wrong-secret' | 'derived-secret' | 'known-preimage' | 'random-preimage';

export interface ModelPayment {
  name: string;
  target: PayeeHash;
  role: Role;
  shape: Shape;
  forgery?: Forgery;
  /** The message (lnmsg's), if the payment carries one. */
  message?: Uint8Array;
  /** Each part's payload, amount, and the records lnmsg may keep of it: type (decimal), value (hex). */
  parts: { tlv: Uint8Array; amountMsat: number; kept: string[] }[];
  /**
   * Whether the payment proves it is the payer's, as the payee's rules have it: the invoice's
   * secret, a seed-flow hash, or its own keysend preimage, on a hash not paid when it was made.
   */
  proves: boolean;
  /**
   * Whether it carries the hash's credential, paid or not: the invoice's secret, a seed-flow hash,
   * a keysend hash's preimage. A payer without one learns nothing from its failure.
   */
  credentialed: boolean;
  htlcs: ModelHtlc[];
  /** Which part each HTLC sent carries, by HTLC key. */
  partOf: Map<string, number>;
}

export interface PaymentPlan {
  role: Role;
  shape: Shape;
  parts: number;
  /** A second, odd record with the message (its content type). */
  extra: boolean;
  /** Picks a forger's trick among those its knowledge allows. */
  trick: number;
}

/** A payment for `target` (or, with none, a keysend to a hash of its own) as its payer would build it. */
export function plan(
  name: string,
  p: PaymentPlan,
  target: PayeeHash,
  known: { paid: boolean; preimage?: Uint8Array },
  /** The payer's random bytes (drawn so a schedule replays alike). */
  bytes: (n: number) => Uint8Array,
): ModelPayment {
  const invoiced = target.kind === 'bolt11' || target.kind === 'node';
  // On a seed-flow hash the hash is the credential: whoever has it before it is paid is a payer.
  // A keysend's hash is its payer's alone.
  const role: Role =
    p.role === 'forger' && target.kind === 'seed' && !known.paid
      ? 'rival'
      : p.role === 'rival' && target.kind === 'keysend'
        ? 'honest'
        : p.role;
  const forgery = role === 'forger' ? pickForgery(target, known, p.trick) : undefined;
  const parts = p.shape === 'single' || target.kind === 'keysend' ? 1 : p.parts;
  const amountMsat = Math.max(target.amountMsat, 1000);
  const message =
    p.shape === 'single' || p.shape === 'chunks' || p.shape === 'repeated'
      ? utf8.encode(role === 'forger' ? `FORGED by ${name}` : `${name} from the ${role} payer`)
      : undefined;
  const boost = utf8.encode(JSON.stringify({ message: `${role === 'forger' ? 'FORGED' : 'boost'} ${name}` }));
  const extras: TlvRecord[] = [];
  if (p.shape === 'records') extras.push({ type: APP_RECORD.boostagram, value: boost });
  if (message && p.extra)
    extras.push({ type: RECORD.contentType, value: utf8.encode(`text/plain; ${name}`) });
  const credential = credentialOf(role, forgery, target, known, bytes);
  const token = bytes(CHUNK_TOKEN_BYTES);
  const built = Array.from({ length: parts }, (_, i) => {
    const share = Math.floor((amountMsat * (i + 1)) / parts) - Math.floor((amountMsat * i) / parts);
    const records: TlvRecord[] = [...(i === 0 || p.shape === 'records' ? extras : [])];
    if (credential.keysend) records.push({ type: RECORD.keysendPreimage, value: credential.keysend });
    if (message && p.shape !== 'chunks') records.push({ type: MESSAGE_TYPE, value: message });
    if (message && p.shape === 'chunks')
      records.push({ type: RECORD.chunk, value: piece(message, token, i, parts) });
    const paymentData: PaymentData | undefined = credential.secret
      ? { paymentSecret: credential.secret, totalMsat: BigInt(amountMsat) }
      : undefined;
    const tlv = encodeFinalPayload({
      amtToForward: BigInt(share),
      outgoingCltvValue: 126,
      paymentData,
      customRecords: records,
    });
    const kept = records.filter((r) => extras.includes(r)).map((r) => `${r.type}=${toHex(r.value)}`);
    return { tlv, amountMsat: share, kept };
  });
  const credentialed =
    target.kind === 'seed' ||
    (invoiced
      ? credential.secret !== undefined && forgery !== 'wrong-secret'
      : forgery !== 'random-preimage');
  const proves = role !== 'forger' && !known.paid && credentialed;
  return {
    name,
    target,
    role,
    shape: p.shape,
    forgery,
    message,
    parts: built,
    proves,
    credentialed,
    htlcs: [],
    partOf: new Map(),
  };
}

/** A keysend payer's own hash. */
export function keysendHash(name: string, preimage: Uint8Array): PayeeHash {
  return {
    name,
    kind: 'keysend',
    hash: toHex(sha256(preimage)),
    preimage,
    amountMsat: 0,
    hold: false,
    expiresAt: Infinity,
  };
}

function pickForgery(
  target: PayeeHash,
  known: { paid: boolean; preimage?: Uint8Array },
  trick: number,
): Forgery {
  const tricks: Forgery[] =
    target.kind === 'seed' || target.kind === 'keysend'
      ? [known.preimage ? 'known-preimage' : 'random-preimage']
      : [
          'no-secret',
          'wrong-secret',
          ...(known.preimage ? (['derived-secret', 'known-preimage'] as const) : []),
        ];
  return tricks[trick % tricks.length] as Forgery;
}

function credentialOf(
  role: Role,
  forgery: Forgery | undefined,
  target: PayeeHash,
  known: { preimage?: Uint8Array },
  bytes: (n: number) => Uint8Array,
): { secret?: Uint8Array; keysend?: Uint8Array } {
  if (role !== 'forger') {
    if (target.kind === 'keysend') return { keysend: target.preimage };
    return target.secret ? { secret: target.secret } : {};
  }
  switch (forgery) {
    case 'wrong-secret':
      return { secret: bytes(32) };
    case 'derived-secret':
      // lightningd derives an invoice's secret from its preimage: whoever learnt one knows the other.
      return { secret: invoiceSecret(known.preimage as Uint8Array) };
    case 'known-preimage':
      return { keysend: known.preimage };
    case 'random-preimage':
      return { keysend: bytes(32) };
    default:
      return {};
  }
}

/** The `i`th of `n` chunks of `message`, as lnmsg's sender cuts them (src/send/message.ts). */
function piece(message: Uint8Array, token: Uint8Array, i: number, n: number): Uint8Array {
  const cut = (k: number) => Math.floor((message.length * k) / n);
  const offset = cut(i);
  return encodeChunk({
    token,
    offset,
    total: message.length,
    ...(offset === 0 ? { messageId: sha256(message).subarray(0, 16) } : {}),
    data: message.subarray(offset, cut(i + 1)),
  });
}
