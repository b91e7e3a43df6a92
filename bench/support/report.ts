/** One row per measured figure, the printed table and the JSON file: what every scenario reports. */

export interface Row {
  scenario: string;
  /** What was measured, e.g. `full stack GET /api/v1/auth/session`. */
  subject: string;
  /** The rate and its unit. */
  rate?: number;
  unit?: 'req/s' | 'ops/s' | 'docs/s' | 'MB/s' | 'logins/s';
  p50?: number;
  p99?: number;
  max?: number;
  /** Connection errors + timeouts, and non-2xx answers. */
  errors?: number;
  non2xx?: number;
  /** The baseline's rate measured in the same run, and what it was. */
  baseline?: number;
  baselineSubject?: string;
  /** rate / baseline (or as the scenario defines it, see `note`). */
  ratio?: number;
  target?: string;
  /** undefined: informational row without a target. */
  pass?: boolean;
  note?: string;
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || Number.isNaN(n)
    ? '-'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The table as text (also written into docs/PERFORMANCE.md by hand from a run). */
export function renderTable(rows: Row[]): string {
  const header = [
    'scenario',
    'measured',
    'rate',
    'p50 ms',
    'p99 ms',
    'max ms',
    'err/non-2xx',
    'baseline',
    'ratio',
    'target',
    'result',
  ];
  const body = rows.map((r) => [
    r.scenario,
    r.subject,
    r.rate === undefined ? '-' : `${fmt(r.rate, r.rate < 100 ? 1 : 0)} ${r.unit ?? ''}`.trim(),
    fmt(r.p50, 1),
    fmt(r.p99, 1),
    fmt(r.max, 0),
    r.errors === undefined && r.non2xx === undefined ? '-' : `${r.errors ?? 0}/${r.non2xx ?? 0}`,
    r.baseline === undefined
      ? '-'
      : `${fmt(r.baseline, r.baseline < 100 ? 1 : 0)}${r.baselineSubject ? ` (${r.baselineSubject})` : ''}`,
    r.ratio === undefined ? '-' : `${(r.ratio * 100).toFixed(1)}%`,
    r.target ?? '-',
    r.pass === undefined ? 'info' : r.pass ? 'PASS' : 'MISS',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |', ...body.map(line)].join('\n');
}
