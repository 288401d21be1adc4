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
 * `paid`, writes `settled` where the entry's own HTLCs paid (`settle`); `rejected` (or, for
 * records-only data, removal) only once lightningd has the invoice unpaid and holds no HTLC of the hash.
 */
export class Settlements {
  constructor(private readonly d: SettlementDeps) {}

  /** lightningd settled the hash's invoice (its notification). */
  async confirm(paymentHash: string): Promise<void> {
    const m = await this.d.store.message(paymentHash);
    if (m) await this.settle(m);
  }

  /** Asks lightningd, after `delayMs`, what became of a payment lnmsg let through. */
  watch(paymentHash: string, delayMs = CONFIRM_AFTER_MS): void {
    this.d.after(delayMs, () => void this.check(paymentHash, delayMs));
  }

  /**
   * At a start, before any replay: those of `hashes` whose payment lightningd shows paid are
   * written settled now (paid is final; a held keysend is paid by lightningd's keysend plugin
   * when lnmsg dies holding it). The rest wait for `reconcile`.
   */
  async settledMeanwhile(hashes: string[]): Promise<void> {
    for (const hash of hashes) {
      try {
        const m = await this.d.store.message(hash);
        if (m && (await this.d.settlement(hash)) === 'paid') await this.settle(m);
      } catch (e) {
        this.d.log('unusual', `checking payment ${hash} at start: ${(e as Error).message}`);
      }
    }
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

  /**
   * lightningd paid the hash's invoice: the entry is settled if its own HTLCs are what paid. Those
   * of a `settling` entry are (lnmsg let them on). A held message on an invoice waits in
   * htlc_accepted with lnmsg's even record in its payload: a dying lnmsg leaves lightningd to fail
   * it as unreadable, so another payment paid and this one's payer was refunded. A held keysend is
   * paid by lightningd's keysend plugin when lnmsg dies holding it. A rejected entry's HTLCs were
   * gone unpaid (see `check`).
   */
  private async settle(m: ReceivedMessage): Promise<void> {
    if (m.status === 'rejected' || m.status === 'settled') return;
    if (m.status === 'held' && !m.spontaneous) {
      this.d.log('unusual', `held message ${m.paymentHash}: its HTLCs were released, another payment paid`);
      return this.release(m);
    }
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
