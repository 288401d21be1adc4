import { ownRecord, ownReply } from './recorded-v26066.js';

/** The versions a hash already paid was recorded on (test/fixtures/<folder>/paid-hash.jsonl, see its README). */
export const PAID_HASH_FOLDERS = ['cln-v26.06.6', 'cln-v24.11.2'] as const;
const FILE = 'paid-hash.jsonl';

/**
 * One version's recording: node 1 paid node 3's invoice with sendonion (`paid/…`), then sent
 * sendonion again on its hash (`again-…/sendonion`: the paid part's success, or error 201).
 */
export function paidHashRun(folder: string) {
  const record = (name: string) => ownRecord(folder, FILE, name);
  const routes = record('paid/getroutes').request.params as { destination: string; amount_msat: number };
  return {
    reply: (name: string) => ownReply(folder, FILE, name),
    destination: routes.destination,
    amountMsat: routes.amount_msat,
    hash: (record('paid/createonion').request.params as { assocdata: string }).assocdata,
    preimage: (record('paid/waitsendpay').reply.result as { payment_preimage: string }).payment_preimage,
  };
}
