/** Reads BOLT 1's appendix test vectors out of 01-messaging.md. */

export interface BigSizeVector {
  name: string;
  value: string;
  bytes: string;
  exp_error?: string;
}

/** Appendix A's two JSON blocks: decoding tests, then encoding tests. */
export function bigSizeVectors(markdown: string): { decoding: BigSizeVector[]; encoding: BigSizeVector[] } {
  const start = markdown.indexOf('## Appendix A');
  const end = markdown.indexOf('## Appendix B');
  const blocks = [...markdown.slice(start, end).matchAll(/```json\n([\s\S]*?)```/g)].map((m) =>
    // Values exceed 2^53: keep them as strings.
    JSON.parse((m[1] as string).replace(/"value": (\d+)/g, '"value": "$1"')),
  );
  return { decoding: blocks[0], encoding: blocks[1] };
}

export interface TlvVector {
  stream: string;
  valid: boolean;
  /** The failure reason, or the values line for valid n1 streams ('' when they are ignored). */
  text: string;
  namespaces: ('n1' | 'n2')[];
  section: string;
}

/** Appendix B: every "Valid stream"/"Invalid stream" with its reason and the namespaces it applies to. */
export function tlvVectors(markdown: string): TlvVector[] {
  const start = markdown.indexOf('## Appendix B');
  const end = markdown.indexOf('## Appendix C');
  const lines = markdown.slice(start, end).split('\n');
  const out: TlvVector[] = [];
  let namespaces: ('n1' | 'n2')[] = ['n1', 'n2'];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith('### ')) section = line.slice(4);
    if (line.startsWith('The following TLV stream') || line.startsWith('In addition, the following')) {
      const para = `${line} ${lines[i + 1] ?? ''}`;
      const n1 = para.includes('`n1`');
      const n2 = para.includes('`n2`');
      namespaces = n1 && !n2 ? ['n1'] : n2 && !n1 ? ['n2'] : ['n1', 'n2'];
    }
    const m = /^1\. (Valid|Invalid) stream: 0x(.*)$/.exec(line);
    if (!m) continue;
    const next = (lines[i + 1] ?? '').replace(/^2\. (Reason|Values|Explanation): /, '');
    out.push({
      stream: (m[2] as string).replace(/\s+/g, ''),
      valid: m[1] === 'Valid',
      text: next.trim(),
      namespaces,
      section,
    });
  }
  return out;
}
