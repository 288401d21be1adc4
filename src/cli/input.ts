import { readFileSync } from 'node:fs';
import * as prompts from '@clack/prompts';
import { fromHex, utf8 } from '../wire/bytes.js';
import { CliError, EXIT } from './exit.js';

export interface MessageFlags {
  message?: string;
  hex?: string;
  file?: string;
}

/** The message bytes from exactly one of --message (text), --hex or --file. */
export function messageFromFlags(f: MessageFlags): Uint8Array | undefined {
  const given = [f.message, f.hex, f.file].filter((v) => v !== undefined).length;
  if (given > 1) throw new CliError('give only one of --message, --hex, --file', EXIT.usage);
  if (f.hex !== undefined) {
    try {
      return fromHex(f.hex.trim(), '--hex');
    } catch {
      throw new CliError('--hex must be an even number of hex digits', EXIT.usage);
    }
  }
  if (f.file !== undefined) {
    try {
      return new Uint8Array(readFileSync(f.file));
    } catch (e) {
      throw new CliError(`cannot read --file ${f.file}: ${(e as Error).message}`, EXIT.usage);
    }
  }
  return f.message === undefined ? undefined : utf8.encode(f.message);
}

/** Asks for a missing value on a terminal; elsewhere a missing value is a usage error. */
export async function ask(
  flag: string,
  question: string,
  validate: (v: string) => string | undefined,
): Promise<string> {
  if (!process.stdin.isTTY) throw new CliError(`missing ${flag} (no terminal to ask on)`, EXIT.usage);
  const answer = await prompts.text({ message: question, validate: (v) => validate(v ?? '') });
  if (prompts.isCancel(answer)) throw new CliError('cancelled', EXIT.usage);
  return answer;
}

export const validators = {
  hash: (v: string) => (/^[0-9a-fA-F]{64}$/.test(v) ? undefined : 'a payment hash is 64 hex characters'),
  pubkey: (v: string) => (/^0[23][0-9a-fA-F]{64}$/.test(v) ? undefined : 'a node id is 66 hex characters'),
  msat: (v: string) => (/^[1-9]\d*$/.test(v) ? undefined : 'a whole number of msat, at least 1'),
  nonEmpty: (v: string) => (v.length > 0 ? undefined : 'the message is empty'),
};
