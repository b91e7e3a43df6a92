/**
 * Checks docs/SECURITY_CHECKLIST.md: every item resolves to a test that exists or to a stated
 * operator action, there are enough items, and every required category is present.
 *
 *   npx tsx scripts/check-security-checklist.ts [checklist.md]
 *
 * Exit 0 when the checklist holds; exit 1 with one line per problem (naming the item) otherwise.
 * Test files are resolved relative to the current directory (the repository root).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const MIN_ITEMS = 60;

export const REQUIRED_CATEGORIES = [
  'Authentication and authorization',
  'Encryption and data protection',
  'Network security',
  'API security',
  'Logging and monitoring',
  'Access control',
  'Data and backup security',
  'Incident response',
] as const;

export interface TestRef {
  file: string;
  name: string;
}

export interface ChecklistItem {
  id: string;
  category: string;
  requirement: string;
  asvs: string;
  tests: TestRef[];
  operatorAction: string | null;
  /** Parts of the "verified by" cell that are neither a test reference nor an operator action. */
  unparsed: string[];
  line: number;
}

const ROW = /^\|(.*)\|\s*$/;
const SEPARATOR = /^\|[\s:|-]+\|\s*$/;
const TEST_REF = /^test:\s*`?(tests\/[^`\s]+\.test\.ts)`?\s*›\s*"(.+)"$/;
const OPERATOR = /^operator:\s*(.+)$/;

/** Splits a Markdown table row into cells, honouring `\|` escapes. */
function cells(row: string): string[] {
  const inner = ROW.exec(row)?.[1] ?? '';
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** Parses every table row under a `## <category>` heading whose first cell is an item id (e.g. AUTH-01). */
export function parseChecklist(markdown: string): ChecklistItem[] {
  const items: ChecklistItem[] = [];
  let category = '';
  markdown.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    const heading = /^##\s+(.+)$/.exec(line);
    if (heading) {
      category = heading[1].trim();
      return;
    }
    if (!ROW.test(line) || SEPARATOR.test(line)) return;
    const [id, requirement, asvs, verifiedBy] = cells(line);
    if (!/^[A-Z]+-\d+$/.test(id ?? '')) return; // the header row or another table
    const item: ChecklistItem = {
      id,
      category,
      requirement: requirement ?? '',
      asvs: asvs ?? '',
      tests: [],
      operatorAction: null,
      unparsed: [],
      line: index + 1,
    };
    for (const part of (verifiedBy ?? '').split(/<br\s*\/?>/i).map((p) => p.trim())) {
      if (part === '') continue;
      const test = TEST_REF.exec(part);
      const operator = OPERATOR.exec(part);
      if (test) item.tests.push({ file: test[1], name: test[2] });
      else if (operator) item.operatorAction = operator[1].trim();
      else item.unparsed.push(part);
    }
    items.push(item);
  });
  return items;
}

const TITLE = /(?<![.\w])(describe|it|test)\(\s*(['"`])((?:\\.|(?!\2)[\s\S])*?)\2/g;

/** The literal titles of describe blocks and tests in a test file (template literals with `${}` are skipped). */
export function testTitles(source: string): { describes: string[]; tests: string[] } {
  const describes: string[] = [];
  const tests: string[] = [];
  for (const m of source.matchAll(TITLE)) {
    if (m[2] === '`' && m[3].includes('${')) continue;
    const title = m[3].replace(/\\(['"`\\])/g, '$1');
    (m[1] === 'describe' ? describes : tests).push(title);
  }
  return { describes, tests };
}

/** A reference names a test by its own title, or by a describe title, a space and the test title (jest's full name). */
function hasTest(source: string, name: string): boolean {
  const { describes, tests } = testTitles(source);
  if (tests.includes(name)) return true;
  return tests.some((t) => name.endsWith(' ' + t) && describes.some((d) => name.startsWith(d + ' ')));
}

export function checkChecklist(
  markdown: string,
  readTest: (file: string) => string | undefined,
): { items: ChecklistItem[]; problems: string[] } {
  const items = parseChecklist(markdown);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const where = `${item.id} (line ${item.line})`;
    if (seen.has(item.id)) problems.push(`${where}: duplicate item id`);
    seen.add(item.id);
    if (!item.requirement) problems.push(`${where}: no requirement`);
    if (!/\b5\.0\b/.test(item.asvs)) problems.push(`${where}: no ASVS 5.0 requirement named`);
    for (const part of item.unparsed)
      problems.push(`${where}: "${part}" is neither test: <file> › "<name>" nor operator: <action>`);
    if (item.tests.length === 0 && !item.operatorAction)
      problems.push(`${where}: neither a test nor an operator action verifies it`);
    for (const ref of item.tests) {
      const source = readTest(ref.file);
      if (source === undefined) problems.push(`${where}: test file ${ref.file} does not exist`);
      else if (!hasTest(source, ref.name)) problems.push(`${where}: ${ref.file} has no test named "${ref.name}"`);
    }
  }
  if (items.length < MIN_ITEMS) problems.push(`only ${items.length} items, at least ${MIN_ITEMS} are required`);
  const categories = new Set(items.map((i) => i.category));
  for (const c of REQUIRED_CATEGORIES) if (!categories.has(c)) problems.push(`category "${c}" has no items`);
  return { items, problems };
}

if (require.main === module) {
  const file = process.argv[2] ?? 'docs/SECURITY_CHECKLIST.md';
  const root = process.cwd();
  const { items, problems } = checkChecklist(readFileSync(file, 'utf8'), (test) => {
    const resolved = path.resolve(root, test);
    // A reference must stay inside tests/: "tests/../src/x.test.ts" is no test.
    if (!resolved.startsWith(path.join(root, 'tests') + path.sep) || !existsSync(resolved)) return undefined;
    return readFileSync(resolved, 'utf8');
  });
  if (problems.length > 0) {
    for (const p of problems) console.error(`${file}: ${p}`);
    process.exit(1);
  }
  const byTest = items.filter((i) => i.tests.length > 0).length;
  console.log(
    `${file}: ${items.length} items, ${byTest} verified by tests, ${items.length - byTest} by operator actions`,
  );
}
