import { type Handler, replyChunksWithId, type RpcRecord } from './fake-lightningd.js';
import { ownRecordings } from './recorded.js';

const files = new Map<string, RpcRecord[]>();

/** The recorded RPC call `name` in `file`. */
export function v26066Record(file: string, name: string): RpcRecord {
  let records = files.get(file);
  if (!records) {
    records = ownRecordings<RpcRecord>(file).filter((r) => r.kind === 'rpc');
    files.set(file, records);
  }
  const rec = records.find((r) => r.name === name);
  if (!rec) throw new Error(`no recorded rpc call named ${name} in ${file}`);
  return rec;
}

/** A fake lightningd handler answering with that recorded reply, only its id changed. */
export function v26066Reply(file: string, name: string): Handler {
  const rec = v26066Record(file, name);
  return (req) => ({ chunks: replyChunksWithId(rec, req.id) });
}

/** The recorded request's params. */
export const v26066Params = (file: string, name: string) =>
  v26066Record(file, name).request.params as Record<string, unknown>;

/** The recorded reply's result. */
export const v26066Result = <T = Record<string, unknown>>(file: string, name: string) =>
  v26066Record(file, name).reply.result as T;
