import { appendFileSync } from 'node:fs';
const file = process.env.LNMSG_TRACE;
export function trace(ev: string): void {
  if (file)
    appendFileSync(file, `${process.pid} ${(performance.timeOrigin + performance.now()).toFixed(3)} ${ev}\n`);
}
