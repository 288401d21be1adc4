import { type FakeLightningd, type IncomingRequest, resultLike, rpcRecord } from './fake-lightningd.js';

/** The recorded successful sendonion run: node 1 paid node 3 5000 msat over 2 channels. */
export const PAID = 'sendonion-success';

/** The payee and payment hash of the recorded run. */
export function recordedPayment(): { destination: string; hash: string } {
  const routes = rpcRecord(`${PAID}/getroutes`).request.params as { destination: string };
  const onion = rpcRecord(`${PAID}/createonion`).request.params as { assocdata: string };
  return { destination: routes.destination, hash: onion.assocdata };
}

/** listsendpays as it stood before the recorded payment: that hash had no complete payment yet. */
export function listsendpaysBefore(req: IncomingRequest) {
  const { payments } = rpcRecord('listsendpays').reply.result as { payments: Record<string, unknown>[] };
  const hash = (req.params as { payment_hash?: string }).payment_hash;
  return resultLike('listsendpays', req.id, {
    payments: payments.filter((p) => p.payment_hash === hash && p.status !== 'complete'),
  });
}

/**
 * What a plugin asks of lightningd to pay, answered from the recorded run, as node 1 (the plugin
 * started as node 3, the payee of the receive tests).
 */
export function answerSendsAsRecorded(fake: FakeLightningd): void {
  fake.replyWith('getinfo', 'getinfo');
  fake.handle('listsendpays', listsendpaysBefore);
  for (const m of ['getroutes', 'createonion', 'sendonion', 'waitsendpay']) fake.replyWith(m, `${PAID}/${m}`);
  fake.replyWith('signmessage', 'signmessage');
}
