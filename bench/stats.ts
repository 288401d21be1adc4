/** Small statistics for the bench: figures are printed, never asserted. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

export const median = (xs: number[]) => quantile(xs, 0.5);

/** Milliseconds since `t0` (a `process.hrtime.bigint()`). */
export const msSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export function timeEach(runs: number, fn: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    out.push(msSince(t));
  }
  return out;
}

export const fmt = (ms: number, digits = 2) => `${ms.toFixed(digits)} ms`;
export const int = (n: number) => Math.round(n).toLocaleString('en-US');
