import { type Rpc, RpcError } from '../cln/rpc.js';

export interface KvEntry {
  key: string[];
  value: string;
  generation: number;
}

/**
 * The durable key-value store lnmsg keeps its state in, with lightningd's datastore semantics:
 * keys are paths, and listing a key gives that key and its immediate children only.
 */
export interface Kv {
  get(key: string[]): Promise<KvEntry | undefined>;
  /** Writes only if the key is new; false if it already exists. */
  create(key: string[], value: string): Promise<boolean>;
  /** Replaces only if the stored generation still is `generation`; false if someone wrote in between. */
  replace(key: string[], value: string, generation: number): Promise<boolean>;
  /** Creates or replaces, whatever is there. */
  put(key: string[], value: string): Promise<void>;
  /** The immediate children of `prefix` that hold a value. */
  list(prefix: string[]): Promise<KvEntry[]>;
  /** The names of the immediate children of `prefix` (the last part of each key), with or without a value. */
  children(prefix: string[]): Promise<string[]>;
  delete(key: string[]): Promise<void>;
}

const KEY_EXISTS = 1202;
const KEY_MISSING = 1200;
const KEY_MUST_EXIST = 1203;
const GENERATION_MISMATCH = 1204;

interface DatastoreEntry {
  key: string[];
  generation?: number;
  string?: string;
  hex?: string;
}

/** lightningd's `datastore`: survives plugin and node restarts, and is in the node's backups. */
export class DatastoreKv implements Kv {
  constructor(private readonly rpc: Rpc) {}

  async get(key: string[]): Promise<KvEntry | undefined> {
    const hit = (await this.listing(key)).find((e) => e.key.length === key.length && e.string !== undefined);
    return hit ? toEntry(hit) : undefined;
  }

  create(key: string[], value: string): Promise<boolean> {
    return this.write({ key, string: value, mode: 'must-create' }, [KEY_EXISTS]);
  }

  replace(key: string[], value: string, generation: number): Promise<boolean> {
    return this.write({ key, string: value, mode: 'must-replace', generation }, [
      KEY_MUST_EXIST,
      GENERATION_MISMATCH,
    ]);
  }

  async put(key: string[], value: string): Promise<void> {
    await this.rpc.call('datastore', { key, string: value, mode: 'create-or-replace' });
  }

  async list(prefix: string[]): Promise<KvEntry[]> {
    return (await this.listing(prefix))
      .filter((e) => e.key.length === prefix.length + 1 && e.string !== undefined)
      .map(toEntry);
  }

  async children(prefix: string[]): Promise<string[]> {
    return (await this.listing(prefix))
      .filter((e) => e.key.length === prefix.length + 1)
      .map((e) => e.key[prefix.length] as string);
  }

  async delete(key: string[]): Promise<void> {
    try {
      await this.rpc.call('deldatastore', { key });
    } catch (e) {
      if (!(e instanceof RpcError && e.code === KEY_MISSING)) throw e;
    }
  }

  private async listing(key: string[]): Promise<DatastoreEntry[]> {
    const { datastore } = await this.rpc.call<{ datastore: DatastoreEntry[] }>('listdatastore', { key });
    return datastore;
  }

  private async write(params: Record<string, unknown>, refusedCodes: number[]): Promise<boolean> {
    try {
      await this.rpc.call('datastore', params);
      return true;
    } catch (e) {
      if (e instanceof RpcError && refusedCodes.includes(e.code)) return false;
      throw e;
    }
  }
}

function toEntry(e: DatastoreEntry): KvEntry {
  return { key: e.key, value: e.string as string, generation: e.generation ?? 0 };
}

/** In-memory Kv with the datastore's semantics (children by parent, so listing stays cheap), for tests and tools. */
export class MemoryKv implements Kv {
  private readonly byParent = new Map<string, Map<string, KvEntry>>();

  async get(key: string[]) {
    return this.siblings(key)?.get(key.at(-1) as string);
  }

  async create(key: string[], value: string) {
    if (await this.get(key)) return false;
    this.set(key, { key, value, generation: 0 });
    return true;
  }

  async replace(key: string[], value: string, generation: number) {
    const cur = await this.get(key);
    if (!cur || cur.generation !== generation) return false;
    this.set(key, { key, value, generation: generation + 1 });
    return true;
  }

  async put(key: string[], value: string) {
    const cur = await this.get(key);
    this.set(key, { key, value, generation: cur ? cur.generation + 1 : 0 });
  }

  async list(prefix: string[]) {
    return [...(this.byParent.get(JSON.stringify(prefix))?.values() ?? [])];
  }

  async children(prefix: string[]) {
    const names = new Set((await this.list(prefix)).map((e) => e.key[prefix.length] as string));
    const depth = prefix.length;
    for (const parent of this.byParent.keys()) {
      const p = JSON.parse(parent) as string[];
      if (p.length > depth && prefix.every((part, i) => p[i] === part)) names.add(p[depth] as string);
    }
    return [...names];
  }

  async delete(key: string[]) {
    const siblings = this.siblings(key);
    siblings?.delete(key.at(-1) as string);
    if (siblings?.size === 0) this.byParent.delete(JSON.stringify(key.slice(0, -1)));
  }

  /** Every entry, for copying a store elsewhere. */
  all(): KvEntry[] {
    return [...this.byParent.values()].flatMap((s) => [...s.values()]);
  }

  /** How many entries hold a value. */
  get size(): number {
    let n = 0;
    for (const s of this.byParent.values()) n += s.size;
    return n;
  }

  private siblings(key: string[]) {
    return this.byParent.get(JSON.stringify(key.slice(0, -1)));
  }

  private set(key: string[], e: KvEntry) {
    const parent = JSON.stringify(key.slice(0, -1));
    let s = this.byParent.get(parent);
    if (!s) this.byParent.set(parent, (s = new Map()));
    s.set(key.at(-1) as string, e);
  }
}
