import type { NodeConnection } from './connection.js';

/** Entries one list call asks for: a few, as each may hold a large message. */
const PAGE = 25;

/**
 * Hands every entry of a list method (`receivemessage_list`, `sendmessage_list`) to `each`, oldest
 * first, page by page, so neither lightningd's reply nor this process grows with the list.
 * Returns how many there were.
 */
export async function everyEntry<T extends { created_index: number }>(
  node: NodeConnection,
  method: string,
  each: (entry: T) => void,
): Promise<number> {
  let count = 0;
  for (let start = 0; ;) {
    const { messages } = await node.call<{ messages: T[] }>(method, { index: 'created', start, limit: PAGE });
    for (const m of messages) each(m);
    count += messages.length;
    const last = messages.at(-1);
    if (messages.length < PAGE || !last) return count;
    start = last.created_index + 1;
  }
}
