import type { MessageStore, ReceivedMessage } from '../store/messages.js';
import type { Settlement } from './node-invoices.js';

type Log = (level: 'info' | 'unusual' | 'broken', message: string) => void;

/** When lightningd has not said a payment lnmsg let through settled, lnmsg asks it. */
export const CONFIRM_AFTER_MS = 30_000;
/** A payment lightningd still holds is asked about again, less and less often, up to this. */
const MAX_RECHECK_MS = 600_000;

export interface SettlementDeps {
  store: MessageStore;
  /** What lightningd did with a hash's HTLCs. */
  settlement(paymentHash: string): Promise<Settlement>;
  log: Log;
  /** Tells listeners of a message that became settled. */
  announce(m: ReceivedMessage): void;
  /** A timer that does not keep the process alive. */
  after(ms: number, fn: () => void): void;
}

/**
 * What lnmsg writes of payments lightningd settles (invoices, and keysends its keysend plugin took
 * while lnmsg was away). lightningd's own state decides: its notification, or `listinvoices`
 * `paid`, writes `settled` over any state; `rejected` (or, for records-only data, removal) only
 * once lightningd has the invoice unpaid and holds no HTLC of the hash.
 */
export class Settlements {
  constructor(private readonly d: SettlementDeps) {}

  /** lightningd settled the hash's invoice (its notification): settled, whatever lnmsg wrote before. */
  async confirm(paymentHash: string): Promise<void> {
    const m = await this.d.store.message(paymentHash);
    if (m && m.status !== 'settled') await this.settle(m);
  }

  /** Asks lightningd, after `delayMs`, what became of a payment lnmsg let through. */
  watch(paymentHash: string, delayMs = CONFIRM_AFTER_MS): void {
    this.d.after(delayMs, () => void this.check(paymentHash, delayMs));
  }

  /**
   * Held and settling messages after a start whose HTLCs lnmsg does not hold: their payments
   * settled or were released while lnmsg was away, or lightningd holds them still.
   */
  async reconcile(hashes: string[], inHand: (paymentHash: string) => boolean): Promise<void> {
    for (const hash of hashes) {
      if (inHand(hash)) continue;
      try {
        const m = await this.d.store.message(hash);
        if (m?.status !== 'held' && m?.status !== 'settling') {
          await this.d.store.forgetHeld(hash);
          continue;
        }
        await this.check(hash, CONFIRM_AFTER_MS, inHand);
      } catch (e) {
        this.d.log('broken', `could not settle the record of held message ${hash}: ${(e as Error).message}`);
      }
    }
  }

  private async check(
    hash: string,
    delayMs: number,
    inHand: (paymentHash: string) => boolean = () => false,
  ): Promise<void> {
    try {
      const m = await this.d.store.message(hash);
      if ((m?.status !== 'settling' && m?.status !== 'held') || inHand(hash)) return;
      const s = await this.d.settlement(hash);
      if (s === 'paid') return await this.settle(m);
      if (s === 'pending') return this.watch(hash, Math.min(delayMs * 2, MAX_RECHECK_MS));
      this.d.log('unusual', `${m.status} message ${hash}: lightningd released its HTLCs unpaid`);
      await this.release(m);
    } catch (e) {
      this.d.log('unusual', `checking payment ${hash}: ${(e as Error).message}`);
      this.watch(hash, Math.min(delayMs * 2, MAX_RECHECK_MS));
    }
  }

  private async settle(m: ReceivedMessage): Promise<void> {
    const after = await this.d.store.updateMessage(m.paymentHash, (cur) => ({
      ...cur,
      status: 'settled',
      rejectReason: undefined,
      deadline: undefined,
    }));
    if (after?.status === 'settled') this.d.announce(after);
  }

  /** The payer was refunded: a message is written refused; a payment's records alone are not kept. */
  private async release(m: ReceivedMessage): Promise<void> {
    if (m.messageHex === '') {
      await this.d.store.deleteMessage(m.paymentHash);
      return;
    }
    await this.d.store.updateMessage(m.paymentHash, (cur) => ({
      ...cur,
      status: 'rejected',
      rejectReason: 'lightningd released its HTLCs unpaid (the payer was refunded)',
      deadline: undefined,
    }));
  }
}
