/**
 * Per-folder coverage from jest's json-summary (coverage/coverage-summary.json): one row
 * per src/services/<capability> and per other src/ folder, plus the total. Informational:
 * there is no threshold.
 *
 *   npx tsx tests/tools/coverage-by-folder.ts [coverage/coverage-summary.json]
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const METRICS = ['lines', 'statements', 'functions', 'branches'] as const;
type Metric = (typeof METRICS)[number];

interface Counts {
  total: number;
  covered: number;
}
export type FileSummary = Record<Metric, Counts>;

/** The folder a source file is reported under: src/services/<capability>, else its own folder. */
export function folderOf(file: string): string {
  const rel = path.relative(ROOT, file).split(path.sep).join('/');
  const parts = rel.split('/');
  if (parts[0] === 'src' && parts[1] === 'services' && parts.length > 3) return parts.slice(0, 3).join('/');
  return parts.slice(0, -1).join('/') || '.';
}

export function byFolder(summary: Record<string, FileSummary>): Map<string, FileSummary> {
  const folders = new Map<string, FileSummary>();
  for (const [file, s] of Object.entries(summary)) {
    if (file === 'total') continue;
    const key = folderOf(file);
    const acc =
      folders.get(key) ??
      (Object.fromEntries(METRICS.map((m) => [m, { total: 0, covered: 0 }])) as unknown as FileSummary);
    for (const m of METRICS) {
      acc[m].total += s[m].total;
      acc[m].covered += s[m].covered;
    }
    folders.set(key, acc);
  }
  return new Map([...folders.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

const pct = (c: Counts): string => (c.total ? ((100 * c.covered) / c.total).toFixed(1) + '%' : '-').padStart(7);

export function table(summary: Record<string, FileSummary>): string {
  const rows = [...byFolder(summary).entries()];
  if (summary.total) rows.push(['total', summary.total]);
  const width = Math.max(...rows.map(([k]) => k.length), 6);
  const head = `${'folder'.padEnd(width)}  ${METRICS.map((m) => m.padStart(12)).join('')}`;
  const lines = rows.map(([k, s]) => `${k.padEnd(width)}  ${METRICS.map((m) => pct(s[m]).padStart(12)).join('')}`);
  return [head, ...lines].join('\n');
}

function main(): void {
  const file = process.argv[2] ?? path.join(ROOT, 'coverage/coverage-summary.json');
  if (!existsSync(file)) {
    console.error(`no coverage summary at ${file}`);
    process.exit(1);
  }
  console.log(table(JSON.parse(readFileSync(file, 'utf8')) as Record<string, FileSummary>));
}

if (require.main === module) main();
