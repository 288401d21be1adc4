import type { ReceivedMessage } from '../store/messages.js';
import { fromHex, toHex } from '../wire/bytes.js';
import type { DecodedHopPayload } from '../wire/hop-payload.js';
import {
  decodeTimestamp,
  findRecord,
  RECORD,
  signedBytes,
  signedPaymentBytes,
} from '../wire/message-records.js';
import { verifySenderSignature } from './signature.js';

export type SenderFields = Pick<
  ReceivedMessage,
  'sender' | 'verified' | 'signedPayment' | 'sentAt' | 'verifyProblem'
>;

/**
 * The sender's id, if given; whether its signature holds, over this payment (lnmsg's form) or
 * over the message alone (other tools' form); and its timestamp, which must be near the arrival.
 */
export function senderOf(
  payload: DecodedHopPayload,
  message: Uint8Array,
  paymentHash: string,
  me: { nodeId: Uint8Array; maxClockSkewSeconds: number; nowSeconds: number },
): SenderFields {
  const sender = findRecord(payload.customRecords, RECORD.sender);
  if (!sender) return {};
  const signature = findRecord(payload.customRecords, RECORD.signature);
  const timestamp = findRecord(payload.customRecords, RECORD.timestamp);
  const unverified = (verifyProblem: string, sentAt?: number) => ({
    sender: toHex(sender),
    verified: false,
    verifyProblem,
    ...(sentAt === undefined ? {} : { sentAt }),
  });
  if (!signature) return unverified('no signature');
  if (timestamp?.length !== 8) return unverified('no 8-byte timestamp');
  const ns = decodeTimestamp(timestamp);
  const sentAt = Number(ns / 1_000_000_000n);
  const signedPayment = verifySenderSignature(
    signature,
    sender,
    signedPaymentBytes(sender, me.nodeId, fromHex(paymentHash), ns, message),
  );
  if (
    !signedPayment &&
    !verifySenderSignature(signature, sender, signedBytes(sender, me.nodeId, ns, message))
  ) {
    return unverified('the signature does not match', sentAt);
  }
  const skew = Math.abs(me.nowSeconds - sentAt);
  if (skew > me.maxClockSkewSeconds) {
    return unverified(
      `signed ${skew} s away from its arrival (more than ${me.maxClockSkewSeconds} s)`,
      sentAt,
    );
  }
  return { sender: toHex(sender), verified: true, signedPayment, sentAt };
}
