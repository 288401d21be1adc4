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

/** A stored entry's data comes from payers that proved themselves, and its status matches its HTLCs. */
function entry(w: World, m: ReceivedMessage, final: boolean): string[] {
  const on = w.hashName(m.paymentHash);
  const shown = `${on}'s ${m.status} entry (message ${text(m.messageHex)}, records ${JSON.stringify(m.records ?? [])})`;
  const keys = m.htlcs.map((r) => `${r.channel}/${r.id}`);
  const named = keys.map((k) => w.ln.htlcs.find((h) => h.key === k && h.hash === m.paymentHash));
  if (named.includes(undefined))
    return [`[from failed] ${shown} names an HTLC lightningd never had on it: ${keys.join(', ')}`];
  const from = named as ModelHtlc[];
  const found =
    m.messageHex === '' && (m.records ?? []).length > 0
      ? records(w, m, from, final)
      : message(w, m, from, final);
  return found.map((f) => f.replace('$', () => shown));
}

/** A message entry: one payment's message, from HTLCs of that payment alone. */
function message(w: World, m: ReceivedMessage, named: ModelHtlc[], final: boolean): string[] {
  const payers = [...new Set(named.map((h) => w.paymentOf(h.key) as ModelPayment))];
  if (payers.length > 1)
    return [`[from failed] $ mixes the HTLCs of ${payers.map((p) => p.name).join(' and ')}`];
  const p =
    payers[0] ??
    w.payments.find((c) => c.target.hash === m.paymentHash && c.message && toHex(c.message) === m.messageHex);
  if (!p) return [`[forged] $ holds a message no payment on ${w.hashName(m.paymentHash)} sent`];
  if (m.messageHex !== toHex(p.message ?? new Uint8Array()))
    return [
      `[from failed] $ names ${p.name}'s HTLCs, which carry ${text(toHex(p.message ?? new Uint8Array()))}`,
    ];
  if (p.role === 'forger') return [`[forged] $ is ${p.name}'s (${why(p)})`];
  if (!p.proves) return [`[paid hash] $ is from ${p.name}, which proves nothing (${why(p)})`];
  const htlcs = named.length > 0 ? named : p.htlcs;
  const kept = new Set(htlcs.flatMap((h) => keptBy(p, h)));
  const out = (m.records ?? [])
    .filter((r) => !kept.has(`${r.type}=${r.value}`))
    .map((r) => `[from failed] $ keeps record ${r.type} that no HTLC of ${p.name}'s message carried`);
  out.push(
    ...status(m, htlcs, named.length > 0, final).map(
      (s) => `[settled iff] $ from ${p.name}: ${s} (${states(htlcs)})`,
    ),
  );
  const decider = w.options.decider || p.target.hold;
  // A keysend held when lnmsg died goes on to lightningd's keysend plugin, which settles it (README,
  // "If the plugin dies while a message is held"): undecided, but as lightningd did it.
  const orphaned = p.target.kind === 'keysend' && htlcs.some((h) => h.state === 'settled' && h.orphaned);
  if (
    decider &&
    !orphaned &&
    (m.status === 'settled' || m.status === 'settling') &&
    !w.accepted.has(m.paymentHash)
  )
    out.push(
      `[undecided] $ from ${p.name} is ${m.status}, never accepted (${p.target.hold ? 'a hold invoice' : 'a decider is set'})`,
    );
  return out;
}

/**
 * A payment's records (no message): each kept record was carried by an HTLC of a payer that
 * proved itself, and the entry is settled only once such an HTLC is.
 */
function records(w: World, m: ReceivedMessage, named: ModelHtlc[], final: boolean): string[] {
  const from = named.length > 0 ? named : w.ln.htlcs.filter((h) => h.hash === m.paymentHash);
  const out: string[] = [];
  const good = new Set<ModelHtlc>();
  for (const r of m.records ?? []) {
    const carriers = from.filter((h) => keptBy(w.paymentOf(h.key), h).includes(`${r.type}=${r.value}`));
    const honest = carriers.filter((h) => {
      const p = w.paymentOf(h.key) as ModelPayment;
      return p.proves && p.role !== 'forger';
    });
    honest.forEach((h) => good.add(h));
    const forger = carriers.map((h) => w.paymentOf(h.key) as ModelPayment).find((p) => p.role === 'forger');
    if (carriers.length === 0) out.push(`[forged] $ keeps record ${r.type}, which no HTLC on it carried`);
    else if (honest.length === 0 && forger)
      out.push(`[forged] $ keeps ${forger.name}'s record ${r.type} (${why(forger)})`);
    else if (honest.length === 0)
      out.push(`[paid hash] $ keeps record ${r.type} of a payment that proves nothing`);
    else if (final && honest.every((h) => h.state === 'failed'))
      out.push(`[from failed] $ keeps record ${r.type} of HTLCs lightningd failed (${states(honest)})`);
  }
  if (out.length > 0) return out;
  const htlcs = named.length > 0 ? named : [...good];
  return status(m, htlcs, named.length > 0, final).map((s) => `[settled iff] $: ${s} (${states(htlcs)})`);
}

/** The records lnmsg may keep of an HTLC (type=value hex). */
function keptBy(p: ModelPayment | undefined, h: ModelHtlc): string[] {
  return p?.parts[p.partOf.get(h.key) as number]?.kept ?? [];
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

const text = (hex: string) => JSON.stringify(Buffer.from(hex, 'hex').toString('utf8'));
