/** A table of figures, as markdown: the same text goes to stdout and to bench/results.md. */
export interface Table {
  title: string;
  head: string[];
  rows: string[][];
  /** A line under the table: what the figures assume, or how they were taken. */
  note?: string;
}

export function markdown({ title, head, rows, note }: Table): string {
  const widths = head.map((_, c) => Math.max(...[head, ...rows].map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => `| ${widths.map((w, c) => (cells[c] ?? '').padEnd(w)).join(' | ')} |`;
  return [
    `## ${title}`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...(note ? ['', note] : []),
    '',
  ].join('\n');
}
