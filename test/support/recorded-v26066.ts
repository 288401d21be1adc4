import { type Handler, replyChunksWithId, type RpcRecord } from './fake-lightningd.js';
import { ownRecordings } from './recorded.js';

const files = new Map<string, RpcRecord[]>();

/** The recorded RPC call `name` in test/fixtures/<folder>/<file>. */
export function ownRecord(folder: string, file: string, name: string): RpcRecord {
  const key = `${folder}/${file}`;
  let records = files.get(key);
  if (!records) {
    // rpcrec.py's own lines (no `kind`) are RPC calls too.
    records = ownRecordings<RpcRecord>(file, folder).filter((r) => (r.kind ?? 'rpc') === 'rpc');
    files.set(key, records);
  }
  const rec = records.find((r) => r.name === name);
  if (!rec) throw new Error(`no recorded rpc call named ${name} in ${key}`);
  return rec;
}

/** A fake lightningd handler answering with that recorded reply, only its id changed. */
export function ownReply(folder: string, file: string, name: string): Handler {
  const rec = ownRecord(folder, file, name);
  return (req) => ({ chunks: replyChunksWithId(rec, req.id) });
}

/** The recorded RPC call `name` in `file` of test/fixtures/cln-v26.06.6. */
export const v26066Record = (file: string, name: string) => ownRecord('cln-v26.06.6', file, name);

/** A fake lightningd handler answering with that recorded reply, only its id changed. */
export const v26066Reply = (file: string, name: string) => ownReply('cln-v26.06.6', file, name);

/** The recorded request's params. */
export const v26066Params = (file: string, name: string) =>
  v26066Record(file, name).request.params as Record<string, unknown>;

/** The recorded reply's result. */
export const v26066Result = <T = Record<string, unknown>>(file: string, name: string) =>
  v26066Record(file, name).reply.result as T;
