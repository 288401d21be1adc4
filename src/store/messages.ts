import type { Kv } from './kv.js';

/** A payment hash the payee handed out, waiting for its message. */
export interface Invoice {
  paymentHash: string;
  preimage: string;
  /** The least the payee accepts; 0 for any amount. */
  amountMsat: number;
  label?: string;
  createdAt: number;
  hold: boolean;
}

export interface HtlcRef {
  /** Incoming channel and HTLC id: how lightningd names an HTLC when it replays it. */
  channel: string;
  id: number;
  amountMsat: number;
}

export type MessageStatus = 'settled' | 'held' | 'rejected';

/** A message that arrived. Stored before its payment is settled. */
export interface ReceivedMessage {
  paymentHash: string;
  messageHex: string;
  tlvType: number;
  amountMsat: number;
  receivedAt: number;
  htlcs: HtlcRef[];
  status: MessageStatus;
  spontaneous: boolean;
  label?: string;
  sender?: string;
  verified?: boolean;
  rejectReason?: string;
}

const INVOICES = ['lnmsg', 'invoice'];
const MESSAGES = ['lnmsg', 'message'];

/** lnmsg's durable state, one datastore entry per invoice and per message. */
export class MessageStore {
  constructor(private readonly kv: Kv) {}

  async addInvoice(inv: Invoice): Promise<boolean> {
    return this.kv.create([...INVOICES, inv.paymentHash], JSON.stringify(inv));
  }

  async invoice(paymentHash: string): Promise<Invoice | undefined> {
    const e = await this.kv.get([...INVOICES, paymentHash]);
    return e ? (JSON.parse(e.value) as Invoice) : undefined;
  }

  async invoices(): Promise<Invoice[]> {
    return (await this.kv.list(INVOICES)).map((e) => JSON.parse(e.value) as Invoice);
  }

  /** Stores a new message; false if one is already stored for this payment hash. */
  async addMessage(msg: ReceivedMessage): Promise<boolean> {
    return this.kv.create([...MESSAGES, msg.paymentHash], JSON.stringify(msg));
  }

  async message(paymentHash: string): Promise<ReceivedMessage | undefined> {
    const e = await this.kv.get([...MESSAGES, paymentHash]);
    return e ? (JSON.parse(e.value) as ReceivedMessage) : undefined;
  }

  /** Read-modify-write with the datastore's generation check, retried on a concurrent write. */
  async updateMessage(
    paymentHash: string,
    change: (m: ReceivedMessage) => ReceivedMessage,
  ): Promise<ReceivedMessage | undefined> {
    for (;;) {
      const e = await this.kv.get([...MESSAGES, paymentHash]);
      if (!e) return undefined;
      const next = change(JSON.parse(e.value) as ReceivedMessage);
      if (await this.kv.replace([...MESSAGES, paymentHash], JSON.stringify(next), e.generation)) return next;
    }
  }

  async messages(): Promise<ReceivedMessage[]> {
    const all = (await this.kv.list(MESSAGES)).map((e) => JSON.parse(e.value) as ReceivedMessage);
    return all.sort((a, b) => a.receivedAt - b.receivedAt);
  }
}
