import type { MessageStore, NewMessage, ReceivedMessage } from '../store/messages.js';
import { toHex } from '../wire/bytes.js';
import type { DecodedHopPayload } from '../wire/hop-payload.js';
import type { ReceiverConfig } from './config.js';
import type { Completion, Decision, Part, SetEffects } from './message-set.js';
import { keptRecords } from './parts.js';
import { amountProblem, sizeProblem } from './problems.js';
import type { Payee } from './proof.js';
import { senderOf } from './sender-id.js';

export interface EffectsDeps {
  store: MessageStore;
  config: ReceiverConfig;
  /** ms since 1970 */
  clock: () => number;
  /** Tells listeners of a message stored (held or settled). */
  announce(m: ReceivedMessage): void;
  /** lightningd is settling this hash: lnmsg asks later what became of it. */
  settling(paymentHash: string): void;
  log(message: string): void;
}

/**
 * What a message's set does when it is whole and when it is decided, the same for every kind of
 * payment: the store is written first each time, and only then are the HTLCs answered.
 */
export class MessageEffects {
  constructor(private readonly d: EffectsDeps) {}

  /** The effects of the set of `hash`, paying `payee`, which may be held until `holdUntilMs()`. */
  of(hash: string, payee: Payee, holdUntilMs: () => number): SetEffects<DecodedHopPayload> {
    const inv = payee.kind === 'keysend' ? undefined : payee.inv;
    const byInvoice = payee.kind === 'invoice';
    // lightningd fails an invoice's payment that arrives after the invoice expired.
    const until = () =>
      byInvoice && inv?.expiresAt ? Math.min(holdUntilMs(), inv.expiresAt * 1000) : holdUntilMs();
    return {
      complete: (parts, message) => this.complete(hash, parts, message, payee, until()),
      finish: async (d: Decision) => {
        await this.d.store.updateMessage(hash, (m) => ({
          ...m,
          status: d.accept ? (byInvoice ? 'settling' : 'settled') : 'rejected',
          ...(d.accept ? {} : { rejectReason: d.reason }),
          deadline: undefined,
        }));
        if (d.accept && byInvoice) this.d.settling(hash);
      },
      after: (ms, fn) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
      now: this.d.clock,
      partTimeoutMs: this.d.config.mppTimeoutSeconds * 1000,
      log: this.d.log,
    };
  }

  /** The decider that decides `m`, if one is configured and it is the one to decide. */
  deciderFor(m: ReceivedMessage, decideBy: ReceivedMessage['decideBy']) {
    const { decider } = this.d.config;
    return decideBy === 'decider' && decider ? (deadlineMs: number) => decider(m, deadlineMs) : undefined;
  }

  /** A complete message: checked, counted against the budget if spontaneous, stored, then held or settled. */
  private async complete(
    hash: string,
    parts: Part<DecodedHopPayload>[],
    message: Uint8Array,
    payee: Payee,
    holdUntilMs: number,
  ): Promise<Completion> {
    const { config, clock } = this.d;
    const now = Math.floor(clock() / 1000);
    const inv = payee.kind === 'keysend' ? undefined : payee.inv;
    const byInvoice = payee.kind === 'invoice';
    const first = parts[0] as Part<DecodedHopPayload>;
    const received = parts.reduce((n, p) => n + p.htlc.amountMsat, 0);
    const least = Math.max(inv?.amountMsat ?? 0, config.minAmountMsat, Number(first.totalMsat));
    const p = amountProblem(received, least) ?? sizeProblem(message.length, config.maxMessageBytes);
    if (p) return { kind: 'refuse', reason: p.why, cause: p.cause, ...(p.reason ? { told: p.reason } : {}) };
    const records = keptRecords(first.context.customRecords, config.tlvType);
    const decideBy = inv?.hold ? 'operator' : config.decider ? 'decider' : undefined;
    const deadlineMs = Math.min(holdUntilMs, clock() + config.holdTimeoutSeconds * 1000);
    const msg: NewMessage = {
      paymentHash: hash,
      messageHex: toHex(message),
      ...(records.length > 0 ? { records } : {}),
      tlvType: Number(config.tlvType),
      amountMsat: received,
      receivedAt: now,
      htlcs: parts.map((x) => x.htlc),
      status: decideBy ? 'held' : byInvoice ? 'settling' : 'settled',
      spontaneous: !inv,
      ...(byInvoice ? { viaInvoice: true } : {}),
      label: inv?.label,
      ...senderOf(first.context, message, hash, { ...config, nowSeconds: now }),
      ...(decideBy ? { decideBy, deadline: Math.floor(deadlineMs / 1000) } : {}),
    };
    const stored = await this.d.store.addMessage(msg, inv ? Infinity : config.maxStoredBytes);
    if (stored === 'full') {
      const why = 'the payee keeps no more spontaneous messages (lnmsg-max-stored-bytes)';
      return { kind: 'refuse', reason: why, cause: 'storage_full' };
    }
    if (stored === 'exists')
      return { kind: 'refuse', reason: 'a message is already stored for this hash', cause: 'already_paid' };
    // A message lightningd settles is announced once it did.
    if (stored.status === 'settling') this.d.settling(hash);
    else this.d.announce(stored);
    if (!decideBy) return { kind: 'settle' };
    return { kind: 'hold', deadlineMs, decider: this.deciderFor(stored, decideBy) };
  }
}
