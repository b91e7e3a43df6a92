/**
 * The verdict scripts/test.sh prints after jest: one summary line CI reads,
 *
 *   jest: N passed, N failed, N skipped
 *
 * and a failing exit status when no test ran, or when a test was skipped or left as a
 * todo without being listed with a reason in the allow-list (tests/skip-allowlist.json:
 * [{ "test": "<full name>", "reason": "..." }]). A skipped test passes CI silently
 * otherwise; ESLint refuses `.skip`/`.only` in the source, this catches the rest
 * (`xit`, `it.todo`, a skip computed at run time).
 *
 *   npx tsx tests/tools/jest-summary.ts <jest --json output> <allow-list file>
 */
import { existsSync, readFileSync } from 'node:fs';

export interface JestResults {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string }> }>;
}

export interface AllowedSkip {
  test: string;
  reason: string;
}

export interface Verdict {
  line: string;
  problems: string[];
}

const NOT_RUN = new Set(['pending', 'skipped', 'todo', 'disabled']);

export function parseAllowlist(text: string): { entries: AllowedSkip[]; problems: string[] } {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) return { entries: [], problems: ['skip allow-list: expected a JSON array'] };
  const entries: AllowedSkip[] = [];
  const problems: string[] = [];
  parsed.forEach((e: unknown, i) => {
    const entry = e as Partial<AllowedSkip> | null;
    if (typeof entry?.test !== 'string' || !entry.test.trim())
      problems.push(`skip allow-list entry ${i}: "test" must be the test's full name`);
    else if (typeof entry.reason !== 'string' || !entry.reason.trim())
      problems.push(`skip allow-list entry ${i} (${entry.test}): "reason" is required`);
    else entries.push({ test: entry.test, reason: entry.reason });
  });
  return { entries, problems };
}

export function verdict(results: JestResults, allowed: AllowedSkip[]): Verdict {
  const skipped = results.numPendingTests + results.numTodoTests;
  const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped`;
  const problems: string[] = [];
  if (results.numTotalTests === 0) problems.push('no tests ran');
  const names = new Set(allowed.map((a) => a.test));
  for (const file of results.testResults)
    for (const a of file.assertionResults)
      if (NOT_RUN.has(a.status) && !names.has(a.fullName))
        problems.push(`${a.status} test not in tests/skip-allowlist.json: ${a.fullName} (${file.name})`);
  return { line, problems };
}

function main(): void {
  const [resultsFile, allowlistFile] = process.argv.slice(2);
  if (!resultsFile || !allowlistFile) {
    console.error('usage: jest-summary <jest --json output> <allow-list file>');
    process.exit(2);
  }
  const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as JestResults;
  const list = existsSync(allowlistFile)
    ? parseAllowlist(readFileSync(allowlistFile, 'utf8'))
    : { entries: [], problems: [] };
  const v = verdict(results, list.entries);
  console.log(v.line);
  const problems = [...list.problems, ...v.problems];
  for (const p of problems) console.error(p);
  process.exit(problems.length ? 1 : 0);
}

if (require.main === module) main();
