import { type Rpc, RpcError } from '../cln/rpc.js';

export interface KvEntry {
  key: string[];
  value: string;
  generation: number;
}

/** The durable key-value store lnmsg keeps its state in. */
export interface Kv {
  get(key: string[]): Promise<KvEntry | undefined>;
  /** Writes only if the key is new; false if it already exists. */
  create(key: string[], value: string): Promise<boolean>;
  /** Replaces only if the stored generation still is `generation`; false if someone wrote in between. */
  replace(key: string[], value: string, generation: number): Promise<boolean>;
  list(prefix: string[]): Promise<KvEntry[]>;
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
    const { datastore } = await this.rpc.call<{ datastore: DatastoreEntry[] }>('listdatastore', { key });
    const hit = datastore.find((e) => e.key.length === key.length && e.string !== undefined);
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

  async list(prefix: string[]): Promise<KvEntry[]> {
    const { datastore } = await this.rpc.call<{ datastore: DatastoreEntry[] }>('listdatastore', {
      key: prefix,
    });
    return datastore.filter((e) => e.string !== undefined).map(toEntry);
  }

  async delete(key: string[]): Promise<void> {
    try {
      await this.rpc.call('deldatastore', { key });
    } catch (e) {
      if (!(e instanceof RpcError && e.code === KEY_MISSING)) throw e;
    }
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

/** In-memory Kv with the datastore's semantics, for tests and tools. */
export class MemoryKv implements Kv {
  private readonly entries = new Map<string, KvEntry>();

  async get(key: string[]) {
    return this.entries.get(JSON.stringify(key));
  }

  async create(key: string[], value: string) {
    const k = JSON.stringify(key);
    if (this.entries.has(k)) return false;
    this.entries.set(k, { key, value, generation: 0 });
    return true;
  }

  async replace(key: string[], value: string, generation: number) {
    const k = JSON.stringify(key);
    const cur = this.entries.get(k);
    if (!cur || cur.generation !== generation) return false;
    this.entries.set(k, { key, value, generation: generation + 1 });
    return true;
  }

  async list(prefix: string[]) {
    return [...this.entries.values()].filter((e) => prefix.every((p, i) => e.key[i] === p));
  }

  async delete(key: string[]) {
    this.entries.delete(JSON.stringify(key));
  }
}
