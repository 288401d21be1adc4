import { toHex } from '../../src/index.js';
import type { ReceivedMessage } from '../../src/store/messages.js';
import type { ModelHtlc } from './lightningd-model.js';
import type { ModelPayment } from './model-payments.js';
import type { World } from './payee-world.js';

/**
 * What must hold of the payee whatever the schedule, checked after every step (`final`: once
 * everything settled down, when nothing may be left in between).
 */
export async function violations(w: World, final: boolean): Promise<string[]> {
  const out = [...w.broken, ...answers(w), ...oneAnswer(w)];
  for (const target of w.hashes) {
    const m = await w.receiver.message(target.hash);
    out.push(...settledHtlcs(w, target.hash, m, final));
    if (m) out.push(...entry(w, m, final));
  }
  return out;
}

const states = (hs: ModelHtlc[]) => hs.map((h) => `#${h.n} ${h.state}`).join(', ');

/** No HTLC is answered twice differently (lightningd replays an HTLC after a restart). */
function answers(w: World): string[] {
  return w.ln.htlcs
    .filter((h) => new Set(h.answers).size > 1)
    .map(
      (h) =>
        `[answered twice] #${h.n} ${h.what} was answered twice differently: ${[...new Set(h.answers)].join(' then ')}`,
    );
}

/**
 * An HTLC with a message that cannot prove the hash's credential learns nothing from its failure:
 * it ends with the plain incorrect_or_unknown_payment_details lightningd gives an unknown hash.
 * One that proves nothing (no credential, or its hash already paid) is never settled.
 */
function oneAnswer(w: World): string[] {
  const out: string[] = [];
  for (const p of w.payments) {
    for (const h of p.htlcs) {
      if (p.message && h.state === 'settled' && !p.proves)
        out.push(
          `[${p.forgery ? 'forged' : 'paid hash'}] #${h.n} ${h.what} was settled though ${p.name} proves nothing (${why(p)})`,
        );
      if (p.message && !p.credentialed && h.state === 'failed' && h.failure !== w.ln.unknown(h))
        out.push(
          `[one answer] #${h.n} ${h.what} (no credential) failed with ${h.failure}, not the plain ${w.ln.unknown(h)}`,
        );
    }
  }
  return out;
}

/** Lightningd settled HTLCs that carried a message: the store says so (settling until it is told). */
function settledHtlcs(w: World, hash: string, m: ReceivedMessage | undefined, final: boolean): string[] {
  if (w.deleted.has(hash)) return [];
  const settled = w.payments.filter(
    (p) => p.target.hash === hash && p.message && p.htlcs.some((h) => h.state === 'settled'),
  );
  return settled.flatMap((p) => {
    const where = `[settled iff] lightningd settled ${p.name}'s message on ${w.hashName(hash)} (${states(p.htlcs)})`;
    if (!m) return [`${where}, the store has nothing`];
    if (m.messageHex !== toHex(p.message as Uint8Array))
      return [`${where}, the store has another message ${text(m.messageHex)}`];
    if (m.status === 'settled' || (!final && m.status === 'settling')) return [];
    if (m.status === 'rejected' && !final) return [];
    return [`${where}, the store says ${m.status}`];
  });
}

/** A stored entry's data comes from one payment that proved itself, and its status matches its HTLCs. */
function entry(w: World, m: ReceivedMessage, final: boolean): string[] {
  const on = w.hashName(m.paymentHash);
  const shown = `${on}'s ${m.status} entry (message ${text(m.messageHex)}, records ${JSON.stringify(m.records ?? [])})`;
  const keys = m.htlcs.map((r) => `${r.channel}/${r.id}`);
  const named = [...new Set(keys.map((k) => w.paymentOf(k)))];
  if (named.includes(undefined))
    return [`[from failed] ${shown} names an HTLC lightningd never had on it: ${keys.join(', ')}`];
  if (named.length > 1)
    return [`[from failed] ${shown} mixes the HTLCs of ${named.map((p) => p?.name).join(' and ')}`];
  const candidates = w.payments.filter(
    (p) => p.target.hash === m.paymentHash && same(m, p, sources(p, keys)),
  );
  const p = named[0] ?? candidates.find((c) => c.proves) ?? candidates[0];
  if (!p) return [`[forged] ${shown} holds data no payment on ${on} sent`];
  if (!same(m, p, sources(p, keys)))
    return [
      `[from failed] ${shown} names ${p.name}'s HTLCs but is not what they carry (${p.name}: ${text(toHex(p.message ?? new Uint8Array()))})`,
    ];
  if (p.role === 'forger') return [`[forged] ${shown} is ${p.name}'s (${why(p)})`];
  if (!p.proves) return [`[paid hash] ${shown} is from ${p.name}, which proves nothing (${why(p)})`];
  const htlcs = keys.length > 0 ? p.htlcs.filter((h) => keys.includes(h.key)) : p.htlcs;
  const out = status(m, htlcs, keys.length > 0, final).map(
    (s) => `[settled iff] ${shown} from ${p.name}: ${s} (${states(htlcs)})`,
  );
  const decider = w.options.decider || p.target.hold;
  if (
    p.message &&
    decider &&
    (m.status === 'settled' || m.status === 'settling') &&
    !w.accepted.has(m.paymentHash)
  )
    out.push(
      `[undecided] ${shown} from ${p.name} is ${m.status}, never accepted (${p.target.hold ? 'a hold invoice' : 'a decider is set'})`,
    );
  return out;
}

function status(m: ReceivedMessage, htlcs: ModelHtlc[], named: boolean, final: boolean): string[] {
  const settled = htlcs.filter((h) => h.state === 'settled').length;
  switch (m.status) {
    case 'settled':
      if (named ? settled < htlcs.length : settled === 0)
        return ['settled, lightningd did not settle its HTLCs'];
      return [];
    case 'held':
      if (settled > 0) return ['held (undecided) but lightningd settled its HTLCs'];
      return final ? ['still held once every deadline passed'] : [];
    case 'settling':
      return final ? ['still settling once lightningd said everything'] : [];
    case 'rejected':
      return final && settled > 0 ? ['rejected though lightningd settled its HTLCs'] : [];
  }
}

/** Why a payment proves nothing. */
function why(p: ModelPayment): string {
  if (p.forgery) return `a node on the route: ${p.forgery}`;
  return 'its hash was paid before it was sent';
}

/** The HTLCs an entry's data may come from: those it names, else (records alone) its payment's not failed. */
function sources(p: ModelPayment, keys: string[]): ModelHtlc[] {
  return keys.length > 0
    ? p.htlcs.filter((h) => keys.includes(h.key))
    : p.htlcs.filter((h) => h.state !== 'failed');
}

/** The entry is `p`'s message, and each record it keeps is one an HTLC of `from` carried. */
function same(m: ReceivedMessage, p: ModelPayment, from: ModelHtlc[]): boolean {
  if (m.messageHex !== toHex(p.message ?? new Uint8Array())) return false;
  const carried = new Set(from.flatMap((h) => p.parts[p.partOf.get(h.key) as number]?.kept ?? []));
  return (m.records ?? []).every((r) => carried.has(`${r.type}=${r.value}`));
}

const text = (hex: string) => JSON.stringify(Buffer.from(hex, 'hex').toString('utf8'));
