/** Why a codec refused its input. Stable strings: callers and tests match on them. */
export type CodecReason =
  | 'truncated'
  | 'non-minimal'
  | 'out-of-order'
  | 'duplicate'
  | 'unknown-even-type'
  | 'length-overflow'
  | 'length-underflow'
  | 'invalid-value'
  | 'too-large'
  | 'bad-hmac';

/** The only error a decoder in lnmsg throws for bad bytes. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly reason: CodecReason,
    message: string,
  ) {
    super(`${reason}: ${message}`);
  }
}
