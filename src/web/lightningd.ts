import { type Rpc, RpcConnectionError, RpcError, RpcReplyError, UNKNOWN_COMMAND } from '../cln/rpc.js';
import { maxMessageBytes, paymentDataBytes } from '../onion/capacity.js';
import { FINAL_CLTV } from '../send/message.js';
import { defaultMaxFeeMsat } from '../send/method.js';
import { cltvBase } from '../send/route.js';
import { PaymentGroup, SendError, Sender } from '../send/sender.js';
import { chunkHeaderBytes, RECORD } from '../wire/message-records.js';
import { tlvRecordSize } from '../wire/tlv.js';

/** What the page asks of lightningd, each a function of the RPC client and the request's values. */

/** Entries a list page holds: a few, as each message may be 64 KiB. */
export const PAGE = 25;

/** A row of `receivemessage_list` or `sendmessage_list`: fields as the plugin gives them. */
export type Row = { created_index: number; updated_index?: number } & Record<string, unknown>;

/** The lists the page shows, newest first, both paged by index as lightningd's lists are. */
export type ListMethod = 'receivemessage_list' | 'sendmessage_list';

function first(rpc: Rpc, method: ListMethod, index: 'created' | 'updated', start: number) {
  return rpc
    .call<{ messages: Row[] }>(method, { index, start, limit: 1 })
    .then(({ messages }) => messages[0]?.[`${index}_index`]);
}

/**
 * The highest index in use (0 for an empty list). The lists only page upwards from `start`, so
 * this searches: doubling until nothing is at or above, then halving the gap. About 2·log2(n)
 * one-row calls, each jumping to the next index that exists (deleted ones leave holes).
 */
export async function highestIndex(rpc: Rpc, method: ListMethod, index: 'created' | 'updated') {
  let lo = (await first(rpc, method, index, 1)) ?? 0;
  if (lo === 0) return 0;
  let hi = lo * 2;
  for (;;) {
    const at = await first(rpc, method, index, hi);
    if (at === undefined) break;
    lo = at;
    hi = at * 2;
  }
  // Something is at lo, nothing at hi or above.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const at = await first(rpc, method, index, mid);
    if (at === undefined) hi = mid;
    else lo = at;
  }
  return lo;
}

/**
 * Entries created below `before` (all, when undefined), newest first: one window of PAGE
 * indexes, which may hold fewer where entries were deleted. `older` is where the next window
 * starts, or null at the first entry.
 */
export async function newestFirst(rpc: Rpc, method: ListMethod, before?: number) {
  const hi = before === undefined ? await highestIndex(rpc, method, 'created') : before - 1;
  if (hi < 1) return { messages: [], older: null };
  const lo = Math.max(1, hi - PAGE + 1);
  const { messages } = await rpc.call<{ messages: Row[] }>(method, {
    index: 'created',
    start: lo,
    limit: PAGE,
  });
  return {
    messages: messages.filter((m) => m.created_index <= hi).reverse(),
    older: lo > 1 ? lo : null,
  };
}

/** Every entry with an `index` above `after`, oldest first, a page per call; calls `each` for each. */
export async function entriesAfter(
  rpc: Rpc,
  index: 'created' | 'updated',
  after: number,
  each: (m: Row) => void,
): Promise<number> {
  let last = after;
  for (;;) {
    const { messages } = await rpc.call<{ messages: Row[] }>('receivemessage_list', {
      index,
      start: last + 1,
      limit: PAGE,
    });
    for (const m of messages) {
      each(m);
      last = Math.max(last, m[`${index}_index`] ?? last);
    }
    if (messages.length < PAGE) return last;
  }
}

/** A sentence for the page: what failed, without a stack. */
export function describeError(e: unknown): string {
  if (e instanceof RpcConnectionError) return `lightningd is unreachable: ${e.message}`;
  if (e instanceof RpcError && e.code === UNKNOWN_COMMAND)
    return `lightningd does not know ${e.method}: is the lnmsg plugin loaded?`;
  if (e instanceof RpcError || e instanceof RpcReplyError) return e.message;
  return `unexpected error: ${(e as Error)?.message ?? String(e)}`;
}

/** Hops assumed when no route can be found now: the payee and two nodes before it. */
export const ASSUMED_HOPS = 3;

/** The records that name and sign the sender (see message.ts `authorRecords`). */
const AUTHOR_BYTES =
  tlvRecordSize(RECORD.signature, 64) + tlvRecordSize(RECORD.sender, 33) + tlvRecordSize(RECORD.timestamp, 8);
const KEYSEND_BYTES = tlvRecordSize(RECORD.keysendPreimage, 32);

export interface CapacityQuery {
  destination?: string;
  bolt11?: string;
  amountMsat?: number;
  keysend: boolean;
  sign: boolean;
}

/**
 * How many message bytes one HTLC holds to this destination (`single`) and, for a payment to a
 * hash, about how many each part of a multi-part message takes (`perPart`: chunks are sized for a
 * path one hop longer, as sendmessage does). The hop count comes from a route lightningd finds
 * now; without one, `assumed` says why ASSUMED_HOPS was used.
 */
export async function capacity(rpc: Rpc, q: CapacityQuery) {
  let { destination, amountMsat } = q;
  let paymentHash: string | undefined;
  let assumed: string | undefined;
  if (q.bolt11) {
    try {
      const d = await rpc.call<{ payee?: string; amount_msat?: number; payment_hash?: string }>('decode', {
        string: q.bolt11,
      });
      destination = d.payee;
      amountMsat ??= d.amount_msat;
      paymentHash = d.payment_hash;
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
      assumed = `lightningd could not read the invoice (${e.message})`;
    }
  }
  const amount = amountMsat ?? 1000;
  const info = await rpc.call<{ id: string; blockheight: number }>('getinfo');
  let hops = ASSUMED_HOPS;
  if (!destination) assumed ??= 'no destination yet';
  else {
    try {
      const path = await new Sender(rpc).route(info.id, {
        destination,
        amountMsat: amount,
        maxFeeMsat: defaultMaxFeeMsat(amount),
        finalCltv: FINAL_CLTV,
        // A route is all that is asked for: nothing is paid, so no hash, payload or retries.
        paymentHash: '',
        final: { records: [] },
        retryForSeconds: 0,
        group: new PaymentGroup(),
      });
      hops = path.length;
    } catch (e) {
      if (!(e instanceof SendError)) throw e;
      assumed = e.message;
    }
  }
  // The widths of the CLTV values sendmessage puts in the payloads: the final one's, the least.
  const sizes = { amountMsat: BigInt(amount), blockheight: cltvBase(info.blockheight) + FINAL_CLTV };
  // An invoice's payee reads its secret in every part (payment_data), beside the message.
  const invoiced = paymentHash ? paymentDataBytes(BigInt(amount)) : 0;
  return {
    hops,
    assumed: assumed ?? null,
    single: Math.max(
      0,
      maxMessageBytes(hops, {
        ...sizes,
        extraFinalBytes: (q.sign ? AUTHOR_BYTES : 0) + invoiced + (q.keysend ? KEYSEND_BYTES : 0),
      }),
    ),
    per_part: q.keysend
      ? null
      : Math.max(
          0,
          // A piece after the first: its header, then as many bytes as the route carries.
          maxMessageBytes(hops, {
            ...sizes,
            tlvType: RECORD.chunk,
            extraFinalBytes: invoiced,
          }) - chunkHeaderBytes(1),
        ),
    payment_hash: paymentHash ?? null,
  };
}
