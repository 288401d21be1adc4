import { settle } from './fake-time.js';
import { assertHolds, report } from './payee-commands.js';
import type { PayeeHash } from './model-payments.js';
import type { World } from './payee-world.js';

const HOUR_MS = 3_600_000;

/** Every notification arrives and every timer runs out (holds, part timers, lnmsg's checks). */
async function quiesce(w: World, hours: number): Promise<void> {
  for (let i = 0; i < hours; i++) {
    while (w.ln.notifications.length > 0) {
      await w.ln.notify(0);
      await settle();
    }
    await w.time.advance(HOUR_MS);
  }
}

/**
 * The end of a schedule: once everything settled down, nothing may be left half-way, and every
 * hash the payee handed out that is neither paid nor expired still takes an honest payment.
 */
export async function finish(w: World): Promise<void> {
  w.say('> the end: every timer runs out, every notification arrives');
  await quiesce(w, 3);
  const stuck = w.ln.htlcs.filter((h) => h.state === 'lnmsg');
  report(
    w,
    stuck.map((h) => `[unanswered] #${h.n} ${h.what} was never answered`),
  );
  await assertHolds(w, true);
  w.autoAccept = true;
  const open = w.hashes.filter((h) => h.kind !== 'keysend' && !w.deleted.has(h.hash) && payable(w, h));
  for (const h of open) await payAgain(w, h);
  await assertHolds(w, true);
}

function payable(w: World, h: PayeeHash): boolean {
  const paid = w.ln.htlcs.some((x) => x.hash === h.hash && x.state === 'settled');
  return !paid && h.expiresAt * 1000 > w.time.now + HOUR_MS;
}

/** An honest payer pays `h` with a message in two parts: it must settle, and be stored settled. */
async function payAgain(w: World, h: PayeeHash): Promise<void> {
  w.say(`> an honest payer pays ${h.name} once more`);
  const p = w.pay({ role: 'honest', shape: 'chunks', parts: 2, extra: false, trick: 0 }, h);
  for (let i = 0; i < p.parts.length; i++) w.send(p, i);
  await settle();
  if (h.hold) {
    const outcome = await w.receiver.decide(h.hash, { accept: true });
    if (outcome.ok) w.accepted.add(h.hash);
    w.say(`  the operator accepts ${h.name}: ${JSON.stringify(outcome)}`);
    await settle();
  }
  await quiesce(w, 1);
  const m = await w.receiver.message(h.hash);
  const htlcs = p.htlcs.map((x) => `#${x.n} ${x.state}`).join(', ');
  if (p.htlcs.some((x) => x.state !== 'settled') || m?.status !== 'settled') {
    report(w, [
      `[payable] ${h.name} is no longer payable: ${p.name}'s HTLCs ${htlcs}, the store says ${m ? m.status : 'nothing'}`,
    ]);
  }
}
