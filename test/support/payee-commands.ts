import fc from 'fast-check';
import { settle } from './fake-time.js';
import type { Role, Shape } from './model-payments.js';
import { violations } from './payee-invariants.js';
import type { World } from './payee-world.js';

/** A broken invariant, with the schedule that led to it in words. */
export class ModelViolation extends Error {
  constructor(found: string[], transcript: string[]) {
    super(`${found.join('\n')}\n\nThe schedule:\n${transcript.join('\n')}`);
    // The schedule says where; a stack would only say which step threw.
    this.stack = this.message;
  }
}

/** Throws what was found, if anything. */
export function report(w: World, found: string[]): void {
  if (found.length > 0) throw new ModelViolation(found, w.transcript);
}

export async function assertHolds(w: World, final: boolean): Promise<void> {
  report(w, await violations(w, final));
}

/** One step of a schedule: it runs, everything it set off settles, then every invariant is checked. */
class Step implements fc.AsyncCommand<World, World> {
  constructor(
    private readonly said: string,
    private readonly act: (w: World) => unknown,
    private readonly can: (w: Readonly<World>) => boolean,
  ) {}
  check(w: Readonly<World>): boolean {
    return this.can(w);
  }
  async run(_m: World, w: World): Promise<void> {
    w.say(`> ${this.said}`);
    await this.act(w);
    await settle();
    await assertHolds(w, false);
  }
  toString(): string {
    return this.said;
  }
}

const step = (said: string, act: (w: World) => unknown, can: (w: Readonly<World>) => boolean = () => true) =>
  new Step(said, act, can);
const pick = <T>(items: readonly T[], i: number): T | undefined => items[i % Math.max(1, items.length)];
/** Counted from the newest, so a shrunk schedule keeps naming the same payment. */
const latest = <T>(items: readonly T[], i: number): T | undefined =>
  items[items.length - 1 - (i % Math.max(1, items.length))];
const paying = (w: Readonly<World>) => w.payments.length > 0;
const nth = (i: number) => (i === 0 ? 'newest' : `newest but ${i}`);

async function decide(w: World, i: number, accept: boolean): Promise<void> {
  const h = pick(w.hashes, i);
  if (!h) return;
  const outcome = await w.receiver.decide(h.hash, accept ? { accept } : { accept, reason: 'no thanks' });
  if (outcome.ok && accept) w.accepted.add(h.hash);
  w.say(`  the operator ${accept ? 'accepts' : 'rejects'} ${h.name}: ${JSON.stringify(outcome)}`);
}

function answerDecider(w: World, i: number, accept: boolean): void {
  const [call] = w.deciderCalls.splice(i % w.deciderCalls.length, 1);
  if (!call) return;
  w.say(`  the decider ${accept ? 'accepts' : 'rejects'} ${w.hashName(call.hash)}`);
  call.answer(accept ? { accept } : { accept, reason: 'the decider says no' });
}

/** receivemessage_delete: "held" only while an HTLC of the hash is held somewhere. */
async function remove(w: World, i: number): Promise<void> {
  const h = pick(w.hashes, i);
  if (!h) return;
  const before = await w.receiver.message(h.hash);
  const holding = w.ln.htlcs.some(
    (x) => x.hash === h.hash && (x.state === 'lnmsg' || x.state === 'lightningd'),
  );
  const r = await w.receiver.delete(h.hash);
  w.say(`  receivemessage_delete ${h.name}: ${r === 'held' ? 'held' : r ? r.status : 'nothing'}`);
  if (r && r !== 'held') w.deleted.add(h.hash);
  if (r === 'held' && before?.status !== 'held' && !holding)
    report(w, [`[delete] receivemessage_delete ${h.name} says held, no HTLC of it is held anywhere`]);
}

const roles: Role[] = ['honest', 'rival', 'forger'];
const shapes: Shape[] = ['single', 'chunks', 'repeated', 'records', 'plain'];

/** A hash the payee hands out (and, one time in four, soon expires). */
export const MAKE_HASH = fc
  .tuple(
    fc.constantFrom('seed' as const, 'bolt11' as const, 'node' as const),
    fc.boolean(),
    fc.constantFrom(0, 1000, 3000),
    fc.constantFrom(86_400, 86_400, 86_400, 120),
  )
  .map(([kind, hold, amountMsat, expirySeconds]) =>
    step(
      `make a ${kind} hash${hold ? ', hold' : ''}, ${amountMsat || 'any'} msat, expiry ${expirySeconds} s`,
      (w) => w.makeHash(kind, { hold, amountMsat, expirySeconds }),
      (w) => w.hashes.filter((h) => h.kind !== 'keysend').length < 4,
    ),
  );

const PAY = fc
  .tuple(
    fc.nat(4),
    fc.record({
      role: fc.constantFrom(...roles),
      shape: fc.constantFrom(...shapes),
      parts: fc.integer({ min: 1, max: 3 }),
      extra: fc.boolean(),
      trick: fc.nat(3),
    }),
  )
  .map(([t, p]) =>
    step(
      `${p.role} payer plans a ${p.shape} payment in ${p.parts} to hash ${t}${p.extra ? ' (+ content type)' : ''}, trick ${p.trick}`,
      // One more than the hashes there are: a keysend to a hash of the payer's own.
      (w) => w.pay(p, w.hashes[t % (w.hashes.length + 1)]),
      (w) => w.payments.length < 10,
    ),
  );

/** Every kind of step, weighted so a schedule pays, waits and restarts often enough. */
export const STEPS = fc.oneof(
  { weight: 1, arbitrary: MAKE_HASH },
  { weight: 4, arbitrary: PAY },
  {
    weight: 4,
    arbitrary: fc.tuple(fc.nat(7), fc.nat(2)).map(([p, i]) =>
      step(
        `send part ${i} of the ${nth(p)} payment`,
        (w) => {
          const pay = latest(w.payments, p);
          if (pay) w.send(pay, i % pay.parts.length);
        },
        paying,
      ),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.nat(7).map((p) =>
      step(
        `send every part of the ${nth(p)} payment`,
        (w) => {
          const pay = latest(w.payments, p);
          pay?.parts.forEach((_, i) => w.send(pay, i));
        },
        paying,
      ),
    ),
  },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(1, 5, 31, 61, 71, 200, 601, 3600)
      .map((s) => step(`wait ${s} s`, (w) => w.time.advance(s * 1000))),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.nat(4), fc.boolean()).map(([h, a]) =>
      step(
        `the operator ${a ? 'accepts' : 'rejects'} hash ${h}`,
        (w) => decide(w, h, a),
        (w) => w.hashes.length > 0,
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.nat(3), fc.boolean()).map(([c, a]) =>
      step(
        `the decider ${a ? 'accepts' : 'rejects'} its waiting run ${c}`,
        (w) => answerDecider(w, c, a),
        (w) => w.deciderCalls.length > 0,
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.nat(2).map((i) =>
      step(
        `lightningd delivers its invoice_payment notification ${i}`,
        (w) => w.ln.notify(i % w.ln.notifications.length),
        (w) => w.ln.notifications.length > 0,
      ),
    ),
  },
  { weight: 1, arbitrary: fc.constant(step('the plugin dies and starts again', (w) => w.restartPlugin())) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.nat(9), { maxLength: 6 })
      .map((o) =>
        step(`the node restarts, replaying in order ${JSON.stringify(o)}`, (w) => w.restartNode(o)),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.nat(4).map((h) =>
      step(
        `the operator deletes hash ${h}`,
        (w) => remove(w, h),
        (w) => w.hashes.length > 0,
      ),
    ),
  },
);
