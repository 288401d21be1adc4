import type { NodeConnection } from './connection.js';

/** Entries one list call asks for: a few, as each may hold a large message. */
const PAGE = 25;

/**
 * Every entry of a list method (`receivemessage_list`, `sendmessage_list`) from created_index
 * `start` on, oldest first, a page at a time, so neither lightningd's reply nor this process
 * grows with the list.
 */
export async function* entriesFrom<T extends { created_index: number }>(
  node: NodeConnection,
  method: string,
  start = 0,
): AsyncGenerator<T> {
  for (;;) {
    const { messages } = await node.call<{ messages: T[] }>(method, { index: 'created', start, limit: PAGE });
    yield* messages;
    const last = messages.at(-1);
    if (messages.length < PAGE || !last) return;
    start = last.created_index + 1;
  }
}
