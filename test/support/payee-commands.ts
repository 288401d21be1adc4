import fc from 'fast-check';
import { settle } from './fake-time.js';
import type { PaymentPlan, Role, Shape } from './model-payments.js';
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
abstract class Step implements fc.AsyncCommand<World, World> {
  check(_w: Readonly<World>): boolean {
    return true;
  }
  abstract act(w: World): Promise<void>;
  abstract toString(): string;
  async run(_m: World, w: World): Promise<void> {
    w.say(`> ${this.toString()}`);
    await this.act(w);
    await settle();
    await assertHolds(w, false);
  }
}

const pick = <T>(items: readonly T[], i: number): T | undefined => items[i % Math.max(1, items.length)];

class MakeHash extends Step {
  constructor(
    readonly kind: 'seed' | 'bolt11' | 'node',
    readonly hold: boolean,
    readonly amountMsat: number,
    readonly expirySeconds: number,
  ) {
    super();
  }
  override check(w: Readonly<World>) {
    return w.hashes.filter((h) => h.kind !== 'keysend').length < 4;
  }
  async act(w: World) {
    await w.makeHash(this.kind, this);
  }
  toString() {
    return `make a ${this.kind} hash${this.hold ? ', hold' : ''}, ${this.amountMsat || 'any'} msat, expiry ${this.expirySeconds} s`;
  }
}

class Pay extends Step {
  constructor(
    readonly target: number,
    readonly plan: PaymentPlan,
  ) {
    super();
  }
  override check(w: Readonly<World>) {
    return w.payments.length < 10;
  }
  async act(w: World) {
    // One more than the hashes there are: a keysend to a hash of the payer's own.
    w.pay(this.plan, w.hashes[this.target % (w.hashes.length + 1)]);
  }
  toString() {
    const p = this.plan;
    return `${p.role} payer plans a ${p.shape} payment in ${p.parts} to hash ${this.target}${p.extra ? ' (+ content type)' : ''}, trick ${p.trick}`;
  }
}

class Send extends Step {
  constructor(
    readonly payment: number,
    readonly part: number,
  ) {
    super();
  }
  override check(w: Readonly<World>) {
    return w.payments.length > 0;
  }
  async act(w: World) {
    const p = pick(w.payments, this.payment);
    if (p) w.send(p, this.part % p.parts.length);
  }
  toString() {
    return `send part ${this.part} of payment ${this.payment}`;
  }
}

class SendAll extends Step {
  constructor(readonly payment: number) {
    super();
  }
  override check(w: Readonly<World>) {
    return w.payments.length > 0;
  }
  async act(w: World) {
    const p = pick(w.payments, this.payment);
    if (p) for (let i = 0; i < p.parts.length; i++) w.send(p, i);
  }
  toString() {
    return `send every part of payment ${this.payment}`;
  }
}

class Wait extends Step {
  constructor(readonly seconds: number) {
    super();
  }
  async act(w: World) {
    await w.time.advance(this.seconds * 1000);
  }
  toString() {
    return `wait ${this.seconds} s`;
  }
}

class Decide extends Step {
  constructor(
    readonly hash: number,
    readonly accept: boolean,
  ) {
    super();
  }
  override check(w: Readonly<World>) {
    return w.hashes.length > 0;
  }
  async act(w: World) {
    const h = pick(w.hashes, this.hash);
    if (!h) return;
    const d = this.accept ? { accept: true as const } : { accept: false as const, reason: 'no thanks' };
    const outcome = await w.receiver.decide(h.hash, d);
    if (outcome.ok && this.accept) w.accepted.add(h.hash);
    w.say(`  the operator ${this.accept ? 'accepts' : 'rejects'} ${h.name}: ${JSON.stringify(outcome)}`);
  }
  toString() {
    return `the operator ${this.accept ? 'accepts' : 'rejects'} hash ${this.hash}`;
  }
}

class DeciderAnswers extends Step {
  constructor(
    readonly call: number,
    readonly accept: boolean,
  ) {
    super();
  }
  override check(w: Readonly<World>) {
    return w.deciderCalls.length > 0;
  }
  async act(w: World) {
    const [call] = w.deciderCalls.splice(this.call % w.deciderCalls.length, 1);
    if (!call) return;
    w.say(`  the decider ${this.accept ? 'accepts' : 'rejects'} ${w.hashName(call.hash)}`);
    call.answer(this.accept ? { accept: true } : { accept: false, reason: 'the decider says no' });
  }
  toString() {
    return `the decider ${this.accept ? 'accepts' : 'rejects'} its waiting run ${this.call}`;
  }
}

class Notify extends Step {
  constructor(readonly which: number) {
    super();
  }
  override check(w: Readonly<World>) {
    return w.ln.notifications.length > 0;
  }
  async act(w: World) {
    await w.ln.notify(this.which % w.ln.notifications.length);
  }
  toString() {
    return `lightningd delivers its invoice_payment notification ${this.which}`;
  }
}

class RestartPlugin extends Step {
  async act(w: World) {
    await w.restartPlugin();
  }
  toString() {
    return 'the plugin dies and starts again';
  }
}

class RestartNode extends Step {
  constructor(readonly order: number[]) {
    super();
  }
  async act(w: World) {
    await w.restartNode(this.order);
  }
  toString() {
    return `the node restarts, replaying in order ${JSON.stringify(this.order)}`;
  }
}

class Delete extends Step {
  constructor(readonly hash: number) {
    super();
  }
  override check(w: Readonly<World>) {
    return w.hashes.length > 0;
  }
  async act(w: World) {
    const h = pick(w.hashes, this.hash);
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
  toString() {
    return `the operator deletes hash ${this.hash}`;
  }
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
  .map(([k, hold, amount, expiry]) => new MakeHash(k, hold, amount, expiry));

/** Every kind of step, weighted so a schedule pays, waits and restarts often enough. */
export const STEPS = fc.oneof(
  { weight: 1, arbitrary: MAKE_HASH },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.nat(4),
        fc.constantFrom(...roles),
        fc.constantFrom(...shapes),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.nat(3),
      )
      .map(([t, role, shape, parts, extra, trick]) => new Pay(t, { role, shape, parts, extra, trick })),
  },
  { weight: 4, arbitrary: fc.tuple(fc.nat(7), fc.nat(2)).map(([p, i]) => new Send(p, i)) },
  { weight: 3, arbitrary: fc.nat(7).map((p) => new SendAll(p)) },
  { weight: 3, arbitrary: fc.constantFrom(1, 5, 31, 61, 71, 200, 601, 3600).map((s) => new Wait(s)) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(4), fc.boolean()).map(([h, a]) => new Decide(h, a)) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(3), fc.boolean()).map(([c, a]) => new DeciderAnswers(c, a)) },
  { weight: 2, arbitrary: fc.nat(2).map((i) => new Notify(i)) },
  { weight: 1, arbitrary: fc.constant(new RestartPlugin()) },
  { weight: 1, arbitrary: fc.array(fc.nat(9), { maxLength: 6 }).map((o) => new RestartNode(o)) },
  { weight: 1, arbitrary: fc.nat(4).map((h) => new Delete(h)) },
);
