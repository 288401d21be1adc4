import { readFileSync } from 'node:fs';
import * as prompts from '@clack/prompts';
import { hexProblem, messageProblem, msatProblem, nodeIdProblem, paymentHashProblem } from '../cln/params.js';
import { fromHex, utf8 } from '../wire/bytes.js';
import { CliError, EXIT } from './exit.js';

export interface MessageFlags {
  message?: string;
  hex?: string;
  file?: string;
}

/** A flag's value, or a usage error naming the flag and the value. */
export function checked(flag: string, value: string, problem: string | undefined): string {
  if (problem) throw new CliError(`${flag} ${JSON.stringify(value)}: ${problem}`, EXIT.usage);
  return value;
}

/** The message bytes from exactly one of --message (text), --hex or --file; never empty. */
export function messageFromFlags(f: MessageFlags): Uint8Array | undefined {
  const given = [f.message, f.hex, f.file].filter((v) => v !== undefined).length;
  if (given > 1) throw new CliError('give only one of --message, --hex, --file', EXIT.usage);
  const [flag, value, bytes] = flagBytes(f);
  if (bytes) checked(flag, value, messageProblem(bytes));
  return bytes;
}

function flagBytes(f: MessageFlags): [string, string, Uint8Array | undefined] {
  if (f.hex !== undefined) {
    const hex = checked('--hex', f.hex, hexProblem(f.hex.trim())).trim();
    return ['--hex', f.hex, fromHex(hex)];
  }
  if (f.file !== undefined) {
    try {
      return ['--file', f.file, new Uint8Array(readFileSync(f.file))];
    } catch (e) {
      throw new CliError(`cannot read --file ${f.file}: ${(e as Error).message}`, EXIT.usage);
    }
  }
  return ['--message', f.message ?? '', f.message === undefined ? undefined : utf8.encode(f.message)];
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

/** The checks of src/cln/params.ts, for text typed at a prompt or given as a flag. */
export const validators = {
  hash: paymentHashProblem,
  pubkey: nodeIdProblem,
  msat: (v: string) => msatProblem(v, { min: 1 }),
  message: (v: string) => messageProblem(utf8.encode(v)),
};
