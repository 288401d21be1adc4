/** The backslash (escaped so escaping stays reversible), C0, DEL, C1, bidi controls, U+2028/U+2029. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text someone else chose (a sender's message, a label, a reason, an error), made safe to print:
 * one field stays one line and no control character reaches the terminal raw. Notation: `\\`
 * for a backslash; `\n` `\r` `\t`; `\xHH` for the other C0 controls, DEL and C1; `\u{HHHH}` for
 * the bidi controls and U+2028/U+2029 (hex in lowercase). Every escape starts with a backslash
 * and every literal backslash is doubled, so two different texts never print the same (the
 * text `\n`, backslash and n, prints as `\\n`).
 */
export function escapeUntrusted(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0x9f
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u{${code.toString(16).padStart(4, '0')}}`;
  });
}
