/**
 * Runs every test of the given test files on its own (`jest <file> -t '^<full name>$'`),
 * one after the other with --maxWorkers=1, and reports the tests that fail alone: those
 * lean on state an earlier test of the file left behind.
 *
 *   MONGODB_URI=mongodb://127.0.0.1:27099/ npx tsx tests/tools/run-each-test.ts [paths...] [--out report.json]
 *
 * Paths default to tests/routes and tests/services. Exit status 1 when any test failed alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

interface JestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: Array<{
    name: string;
    message: string;
    assertionResults: Array<{ fullName: string; status: string; failureMessages: string[] }>;
  }>;
}

export interface IsolatedResult {
  file: string;
  test: string;
  passed: boolean;
  seconds: number;
  failure?: string;
}

function jest(args: string[]): { json: JestJson | null; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'run-each-'));
  const out = path.join(dir, 'result.json');
  const res = spawnSync(
    'npx',
    ['jest', '--ci', '--maxWorkers=1', '--json', `--outputFile=${out}`, '--coverage=false', ...args],
    { cwd: ROOT, encoding: 'utf8', env: process.env, maxBuffer: 64 * 1024 * 1024 },
  );
  let json: JestJson | null;
  try {
    json = JSON.parse(readFileSync(out, 'utf8')) as JestJson;
  } catch {
    json = null;
  }
  rmSync(dir, { recursive: true, force: true });
  return { json, output: (res.stdout ?? '') + (res.stderr ?? '') };
}

/** Every test file under `paths`, as jest itself selects them. */
export function listFiles(paths: string[]): string[] {
  const res = spawnSync('npx', ['jest', '--listTests', '--json', ...paths], { cwd: ROOT, encoding: 'utf8' });
  const files = JSON.parse(res.stdout) as string[];
  return files.map((f) => path.relative(ROOT, f)).sort();
}

/** The full names of a file's tests, without running any (a name filter that matches nothing skips them all). */
export function listTests(file: string): string[] {
  const { json, output } = jest([file, '--testNamePattern', '^\\b$']);
  if (!json) throw new Error(`could not list the tests of ${file}:\n${output}`);
  return json.testResults.flatMap((r) => r.assertionResults.map((a) => a.fullName));
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function runAlone(file: string, test: string): IsolatedResult {
  const started = Date.now();
  const { json, output } = jest([file, '--testNamePattern', `^${escapeRegExp(test)}$`]);
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const mine = json?.testResults.flatMap((r) => r.assertionResults).filter((a) => a.fullName === test) ?? [];
  const passed = !!json && json.numFailedTests === 0 && mine.length > 0 && mine.every((a) => a.status === 'passed');
  const failure = passed
    ? undefined
    : (
        mine.flatMap((a) => a.failureMessages).join('\n') ||
        json?.testResults.map((r) => r.message).join('\n') ||
        output
      )
        .split('\n')
        .slice(0, 12)
        .join('\n');
  return { file, test, passed, seconds, failure };
}

function main(): void {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf('--out');
  const outFile = outIdx >= 0 ? args.splice(outIdx, 2)[1] : path.join(ROOT, '.cache/run-each-test.json');
  const paths = args.length ? args : ['tests/routes', 'tests/services'];
  const results: IsolatedResult[] = [];
  for (const file of listFiles(paths)) {
    const tests = listTests(file);
    console.log(`${file}: ${tests.length} tests`);
    for (const test of tests) {
      const r = runAlone(file, test);
      results.push(r);
      console.log(`  ${r.passed ? 'ok  ' : 'FAIL'} ${r.seconds.toFixed(1).padStart(5)} s  ${test}`);
      if (r.failure) console.log(r.failure.replace(/^/gm, '         | '));
      writeFileSync(outFile, JSON.stringify(results, null, 2));
    }
  }
  const failed = results.filter((r) => !r.passed);
  console.log(`\n${results.length} tests run alone, ${failed.length} failed alone`);
  for (const f of failed) console.log(`  ${f.file} :: ${f.test}`);
  process.exit(failed.length ? 1 : 0);
}

if (require.main === module) main();
