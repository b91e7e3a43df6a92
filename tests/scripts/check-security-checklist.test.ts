import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkChecklist, parseChecklist, REQUIRED_CATEGORIES } from '../../scripts/check-security-checklist';
import { ROOT, runTs } from '../support/process';

const CHECKLIST = path.join(ROOT, 'docs/SECURITY_CHECKLIST.md');
const real = (): string => readFileSync(CHECKLIST, 'utf8');

function copyWith(markdown: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'erp-checklist-')), 'SECURITY_CHECKLIST.md');
  writeFileSync(file, markdown);
  return file;
}

describe('security checklist check', () => {
  it('when run on the real checklist, then it passes with at least 60 items in every category', async () => {
    const proc = runTs('scripts/check-security-checklist.ts', {});
    expect(await proc.exited).toBe(0);
    expect(proc.stderr()).toBe('');
    const items = parseChecklist(real());
    expect(items.length).toBeGreaterThanOrEqual(60);
    expect(proc.stdout()).toContain(`${items.length} items`);
    expect(new Set(items.map((i) => i.category))).toEqual(new Set(REQUIRED_CATEGORIES));
    for (const item of items) expect(item.tests.length > 0 || item.operatorAction !== null).toBe(true);
  }, 60_000);

  it('when a copy names a test that does not exist, then it exits 1 naming the item and the missing test', async () => {
    const original = 'when an existing path is asked with a method it does not serve, then 405 with Allow, not 404';
    expect(real()).toContain(`"${original}"`);
    const broken = copyWith(real().replace(`"${original}"`, '"when a method is not served, then 418"'));

    const proc = runTs('scripts/check-security-checklist.ts', {}, [broken]);
    expect(await proc.exited).toBe(1);
    expect(proc.stderr()).toMatch(
      /API-06 \(line \d+\): tests\/middleware\/hostile-input\.test\.ts has no test named "when a method is not served, then 418"/,
    );
    expect(proc.stderr().trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('when a copy names a test file that does not exist, then it exits 1 naming the item and the file', async () => {
    const broken = copyWith(real().replace('`tests/cli.audit.test.ts`', '`tests/cli.audit-gone.test.ts`'));
    const proc = runTs('scripts/check-security-checklist.ts', {}, [broken]);
    expect(await proc.exited).toBe(1);
    expect(proc.stderr()).toMatch(/IR-03 \(line \d+\): test file tests\/cli\.audit-gone\.test\.ts does not exist/);
  }, 60_000);

  it('when an item has neither a test nor an operator action, or a category or items are missing, then each is named', () => {
    const files: Record<string, string> = {
      'tests/a.test.ts': "describe('group', () => { it('does x', () => {}); });",
    };
    const read = (f: string): string | undefined => files[f];
    const markdown = [
      '## Authentication and authorization',
      '| id | requirement | ASVS | verified by |',
      '| --- | --- | --- | --- |',
      '| AUTH-01 | x | 5.0 V6.2.1 | test: `tests/a.test.ts` › "does x" |',
      '| AUTH-02 | y | 5.0 V6.2.1 | test: `tests/a.test.ts` › "group does x" |',
      '| AUTH-03 | z | 5.0 V6.2.1 | |',
      '| AUTH-04 | w | 4.0.3 V2.1.1 | operator: do it |',
      '| AUTH-05 | v | 5.0 V6.2.1 | see the wiki |',
      '| AUTH-05 | u | 5.0 V6.2.1 | test: `tests/a.test.ts` › "group does y" |',
    ].join('\n');

    const { items, problems } = checkChecklist(markdown, read);
    expect(items.map((i) => i.id)).toEqual(['AUTH-01', 'AUTH-02', 'AUTH-03', 'AUTH-04', 'AUTH-05', 'AUTH-05']);
    expect(problems).toEqual([
      'AUTH-03 (line 6): neither a test nor an operator action verifies it',
      'AUTH-04 (line 7): no ASVS 5.0 requirement named',
      'AUTH-05 (line 8): "see the wiki" is neither test: <file> › "<name>" nor operator: <action>',
      'AUTH-05 (line 8): neither a test nor an operator action verifies it',
      'AUTH-05 (line 9): duplicate item id',
      'AUTH-05 (line 9): tests/a.test.ts has no test named "group does y"',
      'only 6 items, at least 60 are required',
      ...REQUIRED_CATEGORIES.filter((c) => c !== 'Authentication and authorization').map(
        (c) => `category "${c}" has no items`,
      ),
    ]);
  });
});
