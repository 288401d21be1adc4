/** At most `size` runs at once; the rest wait in arrival order, each only until its own deadline. */
export class Limiter {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`concurrency must be a whole number ≥ 1: ${size}`);
    this.free = size;
  }

  /** A slot's release function, or undefined if `deadline` (ms since epoch) passes while waiting for one. */
  acquire(deadline: number): Promise<(() => void) | undefined> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(this.release());
    }
    return new Promise((resolve) => {
      const grant = () => {
        clearTimeout(timer);
        resolve(this.release());
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(grant), 1);
        resolve(undefined);
      }, deadline - Date.now());
      this.waiting.push(grant);
    });
  }

  private release(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // The slot passes straight to the longest waiter, so a newcomer cannot overtake it.
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
