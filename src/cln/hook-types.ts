import { z } from 'zod';

/** lightningd writes msat amounts as integers; very old versions wrote "123msat". */
const msat = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+(msat)?$/)
    .transform((s) => Number.parseInt(s, 10)),
]);

/** The fields of the `htlc_accepted` request lnmsg relies on (schema: hook/htlc_accepted.json). */
export const HtlcAcceptedRequest = z.object({
  peer_id: z.string().optional(),
  onion: z.object({
    payload: z.string().regex(/^(?:[0-9a-fA-F]{2})*$/),
    short_channel_id: z.string().optional(),
    shared_secret: z.string().optional(),
  }),
  htlc: z.object({
    short_channel_id: z.string(),
    id: z.number().int().nonnegative(),
    amount_msat: msat,
    cltv_expiry: z.number().int(),
    cltv_expiry_relative: z.number().int(),
    payment_hash: z.string().regex(/^[0-9a-f]{64}$/),
  }),
});
export type HtlcAcceptedRequest = z.infer<typeof HtlcAcceptedRequest>;

export type HtlcAcceptedResult =
  | { result: 'continue'; payload?: string }
  | { result: 'fail'; failure_message: string }
  | { result: 'resolve'; payment_key: string };

export const CONTINUE: HtlcAcceptedResult = { result: 'continue' };

/** The `invoice_payment` hook request and notification (OBSERVED.md: `extratlvs` only on developer nodes). */
export const InvoicePayment = z.object({
  label: z.string(),
  preimage: z.string().regex(/^[0-9a-f]{64}$/),
  msat: msat,
});
export const InvoicePaymentRequest = z.object({ payment: InvoicePayment });
