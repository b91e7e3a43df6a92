import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/process';

/**
 * The step of scripts/test.sh that turns jest's JSON into the CI verdict, run as test.sh
 * runs it, on the real output of jest over a fixture project generated in a temp dir (so
 * the fixture's skipped test is never part of the normal run, and ESLint never sees it).
 */
describe('scripts/test.sh verdict on skipped and todo tests', () => {
  let dir: string;
  const SKIPPED = 'fixture a skipped test';
  const TODO = 'fixture a test left to do';
  const ran = new Set<string>();

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jest-summary-'));
    writeFileSync(path.join(dir, 'jest.config.js'), "module.exports = { testMatch: ['**/*.spec.js'] };\n");
    // Written as text: this file itself must not hold a skipped test.
    const skip = ['it', 'skip'].join('.');
    const todo = ['it', 'todo'].join('.');
    writeFileSync(
      path.join(dir, 'fixture.spec.js'),
      [
        "describe('fixture', () => {",
        "  it('passes', () => expect(1).toBe(1));",
        `  ${skip}('a skipped test', () => expect(1).toBe(2));`,
        '});',
      ].join('\n'),
    );
    writeFileSync(
      path.join(dir, 'todo.spec.js'),
      ["describe('fixture', () => {", `  ${todo}('a test left to do');`, '});'].join('\n'),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** jest's --json output over one fixture file (run once per file). */
  const jestOn = (file: string): string => {
    const out = path.join(dir, `${file}.json`);
    if (ran.has(file)) return out;
    ran.add(file);
    spawnSync(
      process.execPath,
      [require.resolve('jest/bin/jest'), '--rootDir', dir, '--ci', '--json', `--outputFile=${out}`, file],
      { cwd: dir, encoding: 'utf8' },
    );
    return out;
  };
  const summary = (results: string, allowlist: unknown) => {
    const list = path.join(dir, `allow-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(list, JSON.stringify(allowlist));
    const res = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'tests/tools/jest-summary.ts'), results, list],
      { cwd: ROOT, encoding: 'utf8' },
    );
    return { status: res.status, stdout: res.stdout, stderr: res.stderr };
  };

  it('when a test is skipped and not in the allow-list, then the summary line is unchanged and the exit status is 1', () => {
    const res = summary(jestOn('fixture.spec.js'), []);
    expect(res.stdout).toBe('jest: 1 passed, 0 failed, 1 skipped\n');
    expect(res.status).toBe(1);
    expect(res.stderr).toContain(SKIPPED);
  }, 60_000);

  it('when the skipped test is listed with a reason, then the exit status is 0', () => {
    const res = summary(jestOn('fixture.spec.js'), [{ test: SKIPPED, reason: 'needs hardware CI lacks' }]);
    expect(res.stdout).toBe('jest: 1 passed, 0 failed, 1 skipped\n');
    expect({ status: res.status, stderr: res.stderr }).toEqual({ status: 0, stderr: '' });
  }, 60_000);

  it('when the skipped test is listed without a reason, then the exit status is 1', () => {
    const res = summary(jestOn('fixture.spec.js'), [{ test: SKIPPED, reason: ' ' }]);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/"reason" is required/);
  }, 60_000);

  it('when a test is left as a todo, then it counts as skipped and fails the run unless listed', () => {
    const results = jestOn('todo.spec.js');
    const unlisted = summary(results, []);
    expect(unlisted.stdout).toBe('jest: 0 passed, 0 failed, 1 skipped\n');
    expect(unlisted.status).toBe(1);
    expect(unlisted.stderr).toContain(TODO);
    expect(summary(results, [{ test: TODO, reason: 'tracked elsewhere' }]).status).toBe(0);
  }, 60_000);
});
