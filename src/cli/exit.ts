/** Exit codes scripts can rely on (documented in the README). */
export const EXIT = {
  ok: 0,
  /** The payment or message failed: refused, no route, timed out by the network. */
  failed: 1,
  /** Bad flags or input: nothing was sent. */
  usage: 2,
  /** lightningd could not be reached, or answered with an error. */
  node: 3,
  /** Waited as long as asked and nothing arrived. */
  timeout: 4,
} as const;

/** An error the CLI prints as one line (no stack) before exiting with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}
