import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { CONTINUE, type HtlcAcceptedRequest, type HtlcAcceptedResult } from '../cln/hook-types.js';
import { incorrectOrUnknownPaymentDetails } from '../onion/failure.js';
import type { HtlcRef, Invoice, MessageStore, ReceivedMessage } from '../store/messages.js';
import { concat, equalBytes, fromHex, toHex } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';
import { type DecodedHopPayload, decodeHopPayload, stripLengthPrefix } from '../wire/hop-payload.js';
import {
  type Chunk,
  decodeChunk,
  decodeTimestamp,
  findRecord,
  RECORD,
  RESERVED_RECORDS,
  signedBytes,
} from '../wire/message-records.js';
import { verifySenderSignature } from './signature.js';

export interface ReceiverConfig {
  tlvType: bigint;
  /** This node's id: signatures cover it, so a message signed for someone else does not verify. */
  nodeId: Uint8Array;
  maxMessageBytes: number;
  minAmountMsat: number;
  /** Least blocks left before the HTLC expires for lnmsg to settle it. */
  minFinalCltv: number;
  /** Blocks kept in hand when holding an HTLC for a decision. */
  holdSafetyBlocks: number;
  /** Longest a held HTLC waits for accept/reject, in seconds. */
  holdTimeoutSeconds: number;
  /** How long the parts of a multi-part message wait for the rest. */
  mppTimeoutSeconds: number;
  /** Decides every message before it settles (a local command or URL), if set. */
  decider?: (m: ReceivedMessage, deadline: number) => Promise<Decision>;
}

export const RECEIVER_DEFAULTS = {
  maxMessageBytes: 65536,
  minAmountMsat: 1,
  // Half of lightningd's default cltv-final (18): enough to settle, and settling is immediate.
  minFinalCltv: 9,
  holdSafetyBlocks: 6,
  holdTimeoutSeconds: 600,
  mppTimeoutSeconds: 60,
};

export type Decision = { accept: true } | { accept: false; reason: string };

type Log = (level: 'debug' | 'info' | 'unusual' | 'broken', message: string) => void;

const MPP_TIMEOUT = Uint8Array.of(0x00, 0x17);

/** Parts of one multi-part message, held until every chunk is in. */
interface PartSet {
  messageId: Uint8Array;
  count: number;
  totalMsat: bigint;
  chunks: Map<number, Uint8Array>;
  htlcs: HtlcRef[];
  payload: DecodedHopPayload;
  verdict: Promise<Verdict>;
  settle: (v: Verdict) => void;
  timer: NodeJS.Timeout;
}

type Verdict = { accept: true } | { accept: false; reason: string; timeout?: boolean };

/**
 * The payee's side: hands out payment hashes, judges incoming HTLCs for them (and spontaneous
 * keysend messages), stores each message before its HTLCs are settled, and lets callers wait.
 */
export class Receiver {
  private readonly invoices = new Map<string, Invoice>();
  private readonly partSets = new Map<string, PartSet>();
  private readonly decisions = new Map<
    string,
    { promise: Promise<Decision>; decide: (d: Decision) => void }
  >();
  private readonly listeners = new Set<(m: ReceivedMessage) => void>();

  constructor(
    private readonly store: MessageStore,
    readonly config: ReceiverConfig,
    private readonly log: Log = () => {},
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /** Loads the payment hashes handed out before a restart. */
  async load(): Promise<void> {
    for (const inv of await this.store.invoices()) this.invoices.set(inv.paymentHash, inv);
  }

  /** Called with every message stored (settled or held); returns a function that unsubscribes. */
  onMessage(listener: (m: ReceivedMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async newInvoice(opts: { amountMsat?: number; label?: string; hold?: boolean }): Promise<Invoice> {
    const preimage = randomBytes(32);
    const inv: Invoice = {
      paymentHash: toHex(sha256(preimage)),
      preimage: toHex(preimage),
      amountMsat: opts.amountMsat ?? 0,
      label: opts.label,
      createdAt: this.now(),
      hold: opts.hold ?? false,
    };
    if (!(await this.store.addInvoice(inv)))
      throw new Error(`payment hash ${inv.paymentHash} already exists`);
    this.invoices.set(inv.paymentHash, inv);
    return inv;
  }

  isOurs(paymentHash: string): boolean {
    return this.invoices.has(paymentHash);
  }

  message(paymentHash: string): Promise<ReceivedMessage | undefined> {
    return this.store.message(paymentHash);
  }

  messages(): Promise<ReceivedMessage[]> {
    return this.store.messages();
  }

  /** The message for `paymentHash` once stored (or `any` next message), or undefined after `timeoutMs`. */
  async wait(paymentHash: string | 'any', timeoutMs: number): Promise<ReceivedMessage | undefined> {
    if (paymentHash !== 'any') {
      const existing = await this.store.message(paymentHash);
      if (existing) return existing;
    }
    return new Promise((resolve) => {
      const stop = this.onMessage((m) => {
        if (paymentHash === 'any' || m.paymentHash === paymentHash) done(m);
      });
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (m: ReceivedMessage | undefined) => {
        clearTimeout(timer);
        stop();
        resolve(m);
      };
    });
  }

  /** The payee's verdict on a held message. False if nothing is held under that hash. */
  decide(paymentHash: string, decision: Decision): boolean {
    const pending = this.decisions.get(paymentHash);
    if (!pending) return false;
    pending.decide(decision);
    return true;
  }

  /** Judges one `htlc_accepted` request. Every path answers; bad input never throws. */
  async onHtlcAccepted(req: HtlcAcceptedRequest): Promise<HtlcAcceptedResult> {
    const { htlc } = req;
    const inv = this.invoices.get(htlc.payment_hash);
    // lightningd parsed a forwarding payload: not for us, and the fast path for forwards.
    if (!inv && req.onion.short_channel_id !== undefined) return CONTINUE;
    const refuse = (why: string, message?: Uint8Array): HtlcAcceptedResult => {
      this.log('info', `refusing HTLC ${htlc.short_channel_id}/${htlc.id} for ${htlc.payment_hash}: ${why}`);
      const height = htlc.cltv_expiry - htlc.cltv_expiry_relative;
      const failure = message ?? incorrectOrUnknownPaymentDetails(BigInt(htlc.amount_msat), height);
      return { result: 'fail', failure_message: toHex(failure) };
    };

    let payload: DecodedHopPayload;
    try {
      payload = decodeHopPayload(stripLengthPrefix(fromHex(req.onion.payload)), (t) => this.understands(t));
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      return inv ? refuse(`malformed payload: ${e.message}`) : CONTINUE;
    }
    // Our hash on an HTLC we should forward: not a payment to us, so lightningd decides.
    if (payload.shortChannelId !== undefined) return CONTINUE;

    const preimage = inv ? fromHex(inv.preimage) : this.keysendPreimage(payload, htlc.payment_hash);
    if (!preimage) return CONTINUE;
    const ref: HtlcRef = { channel: htlc.short_channel_id, id: htlc.id, amountMsat: htlc.amount_msat };
    const resolve: HtlcAcceptedResult = { result: 'resolve', payment_key: toHex(preimage) };

    const existing = await this.store.message(htlc.payment_hash);
    if (existing) {
      if (!existing.htlcs.some((h) => h.channel === ref.channel && h.id === ref.id)) {
        return refuse('this payment hash was already paid');
      }
      // lightningd replays unresolved HTLCs after a restart: the same HTLC gets the same answer.
      if (existing.status === 'settled') return resolve;
      if (existing.status === 'rejected')
        return refuse(`the payee rejected it: ${existing.rejectReason ?? ''}`);
      // Held before a restart: if nothing is left to decide it (no hold, no decider now), settle.
      if (!inv?.hold && !this.config.decider) {
        await this.store.updateMessage(existing.paymentHash, (m) => ({ ...m, status: 'settled' }));
        return resolve;
      }
      const d = await this.awaitDecision(existing, htlc.cltv_expiry_relative);
      return d.accept ? resolve : refuse(d.reason);
    }

    if (payload.amtToForward !== undefined && BigInt(htlc.amount_msat) < payload.amtToForward) {
      return refuse(`HTLC carries ${htlc.amount_msat} msat, the onion says ${payload.amtToForward}`);
    }
    if (htlc.cltv_expiry_relative < this.config.minFinalCltv) {
      return refuse(`expires in ${htlc.cltv_expiry_relative} blocks, needs ${this.config.minFinalCltv}`);
    }

    const chunkValue = findRecord(payload.customRecords, RECORD.chunk);
    if (chunkValue) {
      if (!inv) return CONTINUE; // lnmsg splits messages only over payee-made hashes
      let chunk: Chunk;
      try {
        chunk = decodeChunk(chunkValue);
      } catch (e) {
        return refuse(`bad chunk: ${(e as Error).message}`);
      }
      const verdict = await this.addPart(req, inv, payload, chunk, ref);
      if (verdict.accept) return resolve;
      return refuse(verdict.reason, verdict.timeout ? MPP_TIMEOUT : undefined);
    }

    const messageBytes = findRecord(payload.customRecords, this.config.tlvType);
    if (!messageBytes) return inv ? refuse(`no message record (type ${this.config.tlvType})`) : CONTINUE;
    const problem = this.amountProblem(htlc.amount_msat, inv) ?? this.sizeProblem(messageBytes.length);
    if (problem) return refuse(problem);
    const msg = this.newMessage(htlc.payment_hash, messageBytes, payload, [ref], inv);
    const verdict = await this.storeAndDecide(msg, htlc.cltv_expiry_relative, inv);
    return verdict.accept ? resolve : refuse(verdict.reason);
  }

  /** Custom records lnmsg reads; an unknown even one makes the payload one lnmsg must not accept (BOLT 1). */
  private understands(type: bigint): boolean {
    return type % 2n === 1n || type === this.config.tlvType || RESERVED_RECORDS.has(type);
  }

  /** A keysend's preimage, if the payload carries one that matches and a message to go with it. */
  private keysendPreimage(payload: DecodedHopPayload, paymentHash: string): Uint8Array | undefined {
    const preimage = findRecord(payload.customRecords, RECORD.keysendPreimage);
    if (preimage?.length !== 32 || toHex(sha256(preimage)) !== paymentHash) return undefined;
    if (!findRecord(payload.customRecords, this.config.tlvType)) return undefined; // a plain keysend
    return preimage;
  }

  private amountProblem(amountMsat: number, inv: Invoice | undefined): string | undefined {
    if (inv && amountMsat < inv.amountMsat) return `amount ${amountMsat} < ${inv.amountMsat} asked`;
    if (amountMsat < this.config.minAmountMsat) {
      return `amount ${amountMsat} < lnmsg-min-amount-msat ${this.config.minAmountMsat}`;
    }
    return undefined;
  }

  private sizeProblem(bytes: number): string | undefined {
    return bytes > this.config.maxMessageBytes
      ? `message of ${bytes} bytes > lnmsg-max-message-bytes ${this.config.maxMessageBytes}`
      : undefined;
  }

  private newMessage(
    paymentHash: string,
    bytes: Uint8Array,
    payload: DecodedHopPayload,
    htlcs: HtlcRef[],
    inv: Invoice | undefined,
  ): ReceivedMessage {
    return {
      paymentHash,
      messageHex: toHex(bytes),
      tlvType: Number(this.config.tlvType),
      amountMsat: htlcs.reduce((n, h) => n + h.amountMsat, 0),
      receivedAt: this.now(),
      htlcs,
      status: inv?.hold || this.config.decider ? 'held' : 'settled',
      spontaneous: !inv,
      label: inv?.label,
      ...this.senderOf(payload, bytes),
    };
  }

  /** The sender's id, if given, and whether its signature over this message to us holds. */
  private senderOf(payload: DecodedHopPayload, message: Uint8Array): { sender?: string; verified?: boolean } {
    const sender = findRecord(payload.customRecords, RECORD.sender);
    if (!sender) return {};
    const signature = findRecord(payload.customRecords, RECORD.signature);
    const timestamp = findRecord(payload.customRecords, RECORD.timestamp);
    let verified = false;
    if (signature && timestamp?.length === 8) {
      const signed = signedBytes(sender, this.config.nodeId, decodeTimestamp(timestamp), message);
      verified = verifySenderSignature(signature, sender, signed);
    }
    return { sender: toHex(sender), verified };
  }

  /** Stores the message first (once settled the money is ours and it must not be lost), then decides. */
  private async storeAndDecide(msg: ReceivedMessage, cltvRelative: number, inv?: Invoice): Promise<Verdict> {
    if (!(await this.store.addMessage(msg)))
      return { accept: false, reason: 'a message is already stored for this hash' };
    for (const l of this.listeners) l(msg);
    if (msg.status === 'settled') return { accept: true };
    const d = await this.awaitDecision(msg, cltvRelative, inv?.hold !== true);
    return d;
  }

  /** One decision per held message, however many HTLCs (or replays) wait on it. */
  private awaitDecision(
    m: ReceivedMessage,
    cltvRelative: number,
    useDecider = !!this.config.decider,
  ): Promise<Decision> {
    const pending = this.decisions.get(m.paymentHash);
    if (pending) return pending.promise;
    const blocksLeft = cltvRelative - this.config.holdSafetyBlocks;
    // Ten minutes a block is the chain's target; the deadline never outlives the HTLC's expiry at that rate.
    const seconds = Math.max(0, Math.min(this.config.holdTimeoutSeconds, blocksLeft * 600));
    let decide: (d: Decision) => void = () => {};
    const promise = new Promise<Decision>((resolve) => {
      const timer = setTimeout(
        () => decide({ accept: false, reason: `no decision within ${seconds}s` }),
        seconds * 1000,
      );
      decide = (d) => {
        clearTimeout(timer);
        resolve(d);
      };
    }).then(async (d) => {
      this.decisions.delete(m.paymentHash);
      await this.store.updateMessage(m.paymentHash, (cur) => ({
        ...cur,
        status: d.accept ? 'settled' : 'rejected',
        ...(d.accept ? {} : { rejectReason: d.reason }),
      }));
      return d;
    });
    this.decisions.set(m.paymentHash, { promise, decide });
    if (useDecider && this.config.decider) {
      this.config
        .decider(m, Date.now() + this.config.holdTimeoutSeconds * 1000)
        .then(decide, (e) => decide({ accept: false, reason: `decider failed: ${e.message}` }));
    }
    return promise;
  }

  /** Holds one part until every chunk is in (then all settle together) or the set fails as a whole. */
  private addPart(
    req: HtlcAcceptedRequest,
    inv: Invoice,
    payload: DecodedHopPayload,
    chunk: Chunk,
    ref: HtlcRef,
  ): Promise<Verdict> {
    const hash = req.htlc.payment_hash;
    let set = this.partSets.get(hash);
    if (!set) {
      let settle: (v: Verdict) => void = () => {};
      const verdict = new Promise<Verdict>((r) => {
        settle = r;
      });
      const created: PartSet = {
        messageId: chunk.messageId,
        count: chunk.count,
        totalMsat: payload.paymentData?.totalMsat ?? 0n,
        chunks: new Map(),
        htlcs: [],
        payload,
        verdict,
        settle: (v) => {
          clearTimeout(created.timer);
          this.partSets.delete(hash);
          settle(v);
        },
        timer: setTimeout(
          () =>
            created.settle({
              accept: false,
              timeout: true,
              reason: `only ${created.chunks.size} of ${created.count} parts within ${this.config.mppTimeoutSeconds}s`,
            }),
          this.config.mppTimeoutSeconds * 1000,
        ),
      };
      set = created;
      this.partSets.set(hash, set);
    }
    const problem = this.partProblem(set, chunk, payload);
    if (problem) {
      set.settle({ accept: false, reason: problem });
      return set.verdict;
    }
    set.chunks.set(chunk.index, chunk.data);
    set.htlcs.push(ref);
    // The sender's records ride with chunk 0.
    if (chunk.index === 0) set.payload = payload;
    if (set.chunks.size === set.count) void this.complete(hash, set, inv, req.htlc.cltv_expiry_relative);
    return set.verdict;
  }

  private partProblem(set: PartSet, chunk: Chunk, payload: DecodedHopPayload): string | undefined {
    if (!payload.paymentData) return 'a part without payment_data';
    if (!equalBytes(chunk.messageId, set.messageId)) return 'parts of different messages under one hash';
    if (chunk.count !== set.count) return `part says ${chunk.count} chunks, an earlier one ${set.count}`;
    if (set.chunks.has(chunk.index)) return `chunk ${chunk.index} arrived twice`;
    if (payload.paymentData.totalMsat !== set.totalMsat) return 'parts disagree on total_msat';
    return undefined;
  }

  private async complete(hash: string, set: PartSet, inv: Invoice, cltvRelative: number): Promise<void> {
    const received = set.htlcs.reduce((n, h) => n + h.amountMsat, 0);
    const message = concat(...Array.from({ length: set.count }, (_, i) => set.chunks.get(i) as Uint8Array));
    const problem =
      (BigInt(received) < set.totalMsat ? `parts carry ${received} msat of ${set.totalMsat}` : undefined) ??
      this.amountProblem(received, inv) ??
      this.sizeProblem(message.length) ??
      (equalBytes(sha256(message).subarray(0, 16), set.messageId)
        ? undefined
        : 'reassembled message does not match its id');
    if (problem) return set.settle({ accept: false, reason: problem });
    try {
      const msg = this.newMessage(hash, message, set.payload, set.htlcs, inv);
      set.settle(await this.storeAndDecide(msg, cltvRelative, inv));
    } catch (e) {
      set.settle({ accept: false, reason: `could not store the message: ${(e as Error).message}` });
    }
  }
}
