import type { Field } from './fields.js';
import { decodeTlvStream, encodeTlvStream, type TlvRecord } from './tlv.js';

// Field<T> is invariant in T; the mapped types below recover each T.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Spec = Record<string, readonly [type: bigint, field: Field<any>]>;
type Values<S extends Spec> = { [K in keyof S]?: S[K][1] extends Field<infer T> ? T : never };

export interface Decoded<S extends Spec> {
  values: Values<S>;
  /** Records of types the namespace does not name (odd ones, or ones `extraKnown` accepted), kept in order. */
  others: TlvRecord[];
}

export interface TlvNamespace<S extends Spec> {
  readonly name: string;
  decode(bytes: Uint8Array, extraKnown?: (type: bigint) => boolean): Decoded<S>;
  encode(values: Values<S>, others?: readonly TlvRecord[]): Uint8Array;
}

/** A BOLT-style TLV namespace: named record types, each with its field codec. */
export function tlvNamespace<S extends Spec>(name: string, spec: S): TlvNamespace<S> {
  const byType = new Map<bigint, [string, Field<unknown>]>();
  for (const [key, [type, field]] of Object.entries(spec)) byType.set(type, [key, field]);
  return {
    name,
    decode(bytes, extraKnown) {
      const records = decodeTlvStream(bytes, { isKnown: (t) => byType.has(t) || (extraKnown?.(t) ?? false) });
      const values: Record<string, unknown> = {};
      const others: TlvRecord[] = [];
      for (const rec of records) {
        const named = byType.get(rec.type);
        if (named) values[named[0]] = named[1].decode(rec.value, `${name} ${named[0]} (type ${rec.type})`);
        else others.push(rec);
      }
      return { values: values as Values<S>, others };
    },
    encode(values, others = []) {
      const records: TlvRecord[] = [...others];
      for (const [key, [type, field]] of Object.entries(spec)) {
        const v = values[key as keyof S];
        if (v !== undefined) records.push({ type, value: field.encode(v) });
      }
      records.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
      return encodeTlvStream(records);
    },
  };
}
