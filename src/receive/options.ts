import type { OptionValue } from '../cln/plugin.js';
import { CUSTOM_RECORD_MIN } from '../wire/hop-payload.js';
import { RECORD, RESERVED_RECORDS } from '../wire/message-records.js';
import { APP_RECORD } from '../wire/payment-records.js';
import { commandDecider, deciderUrlProblem, urlDecider } from './decider.js';
import { RECEIVER_DEFAULTS, type ReceiverConfig } from './config.js';

/** The payee's options as lightningd hands them to `init`, checked; each problem names its option. */
type Options = Record<string, OptionValue>;

export const DECIDE_DEFAULTS = { timeoutSeconds: 30, concurrency: 4 };

/** Records with their own meaning that lnmsg reads as such: never the message's type. */
const OTHER_KNOWN_RECORDS: ReadonlySet<bigint> = new Set([
  RECORD.senderName,
  RECORD.contentType,
  APP_RECORD.boostagram,
  APP_RECORD.tipNote,
]);

export function tlvTypeProblem(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    return `lnmsg-tlv-type must be a whole number, got ${value}`;
  const t = BigInt(value);
  if (t < CUSTOM_RECORD_MIN) return `lnmsg-tlv-type ${t} is below 65536: BOLT 4 reserves those types`;
  if (RESERVED_RECORDS.has(t) || OTHER_KNOWN_RECORDS.has(t))
    return `lnmsg-tlv-type ${t} is taken (keysend preimage, a chat record, lnmsg's chunk record, a boostagram or tip note)`;
  return undefined;
}

function wholeProblem(o: Options, name: string, min = 0): string | undefined {
  const v = o[name];
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min
    ? undefined
    : `${name} must be a whole number >= ${min}, got ${JSON.stringify(v)}`;
}

/** Why lnmsg cannot start with these options, or undefined. */
export function optionsProblem(o: Options): string | undefined {
  const url = o['lnmsg-decide-url'] as string;
  const command = o['lnmsg-decide-command'] as string;
  const spontaneous = o['lnmsg-spontaneous'];
  return (
    tlvTypeProblem(o['lnmsg-tlv-type']) ??
    wholeProblem(o, 'lnmsg-max-message-bytes') ??
    wholeProblem(o, 'lnmsg-min-amount-msat') ??
    wholeProblem(o, 'lnmsg-max-stored-bytes') ??
    wholeProblem(o, 'lnmsg-decide-timeout', 1) ??
    wholeProblem(o, 'lnmsg-decide-concurrency', 1) ??
    (spontaneous === 'accept' || spontaneous === 'refuse'
      ? undefined
      : `lnmsg-spontaneous must be accept or refuse, got ${JSON.stringify(spontaneous)}`) ??
    (url ? deciderUrlProblem(url) : undefined) ??
    (url && command ? 'set lnmsg-decide-command or lnmsg-decide-url, not both' : undefined)
  );
}

/** The receiver's configuration from checked options. */
export function receiverConfig(o: Options, nodeId: Uint8Array): ReceiverConfig {
  const url = o['lnmsg-decide-url'] as string;
  const command = o['lnmsg-decide-command'] as string;
  const limits = {
    timeoutMs: (o['lnmsg-decide-timeout'] as number) * 1000,
    concurrency: o['lnmsg-decide-concurrency'] as number,
  };
  return {
    ...RECEIVER_DEFAULTS,
    nodeId,
    tlvType: BigInt(o['lnmsg-tlv-type'] as number),
    maxMessageBytes: o['lnmsg-max-message-bytes'] as number,
    minAmountMsat: o['lnmsg-min-amount-msat'] as number,
    maxStoredBytes: o['lnmsg-max-stored-bytes'] as number,
    spontaneous: o['lnmsg-spontaneous'] as 'accept' | 'refuse',
    decider: command ? commandDecider(command, limits) : url ? urlDecider(url, limits) : undefined,
  };
}
