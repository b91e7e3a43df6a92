import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { envSchema } from '../../src/config';
import { cliCommands, unknownCliReferences } from '../support/cli-references';
import { ROOT } from '../support/process';

const DOCS = ['docs/PRODUCTION_DEPLOYMENT.md', 'docs/OPERATIONS.md'] as const;
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

/** `npm run <script> [-- <args>]` as a document writes it (in code spans, code blocks and tables). */
export function npmRuns(doc: string): Array<{ script: string; args: string }> {
  return [...doc.matchAll(/\bnpm run ([a-z][a-z0-9:-]*)(?: --(?: ([^`\n|]*))?)?/g)].map((m) => ({
    script: m[1],
    args: (m[2] ?? '').trim(),
  }));
}

/** The CLI command lines: `npm run cli -- <cmd> …`, `node dist/cli.js <cmd> …`, and `cli <cmd>` in prose. */
export function cliCalls(doc: string): Array<{ command: string; rest: string }> {
  const calls: Array<{ command: string; rest: string }> = [];
  for (const m of doc.matchAll(/(?:npm run cli --|node dist\/cli\.js|`cli) ([a-z][a-z:-]*)([^`\n|&]*)/g))
    calls.push({ command: m[1], rest: m[2] });
  // `npm run backup -- <sub>` and `npm run db:sync-indexes` are the CLI too.
  for (const m of doc.matchAll(/npm run backup -- ([^`\n|&]*)/g)) calls.push({ command: 'backup', rest: ' ' + m[1] });
  return calls;
}

/** Repository paths the document names: scripts/…, deploy/…, docs/…, src/…, ecosystem.config.js. */
export function repoPaths(doc: string): string[] {
  const found = [
    ...doc.matchAll(/(?<![\w/.-])((?:scripts|deploy|docs|src|tests)\/[\w./-]*\w|ecosystem\.config\.js)/g),
  ].map((m) => m[1]);
  // Links are relative to docs/: (../deploy/x) and (prometheus/x.yml).
  for (const m of doc.matchAll(/\]\(((?:\.\.\/)?[\w./-]+)\)/g))
    found.push(path.normalize(path.join('docs', m[1].replace(/#.*$/, ''))));
  return [...new Set(found.map((p) => p.replace(/\.$/, '')))];
}

describe.each(DOCS)('%s: every command and file it names exists', (file) => {
  const doc = read(file);

  it('when the document says `npm run X`, then package.json has script X', () => {
    const runs = npmRuns(doc);
    expect(runs.length).toBeGreaterThan(2);
    expect([...new Set(runs.map((r) => r.script))].filter((s) => !Object.hasOwn(scripts, s))).toEqual([]);
  });

  it('when the document names a CLI command, backup subcommand or flag, then the CLI has it', async () => {
    const commands = await cliCommands();
    expect(commands.has('migrate:up')).toBe(true);
    const calls = cliCalls(doc);
    expect(calls.length).toBeGreaterThan(5);
    const problems = unknownCliReferences(calls, commands);
    expect(problems).toEqual([]);
  }, 60_000);

  it('when the document names a file of the repository (scripts/…, deploy/…, docs/…), then it exists', () => {
    const paths = repoPaths(doc);
    expect(paths.length).toBeGreaterThan(0);
    // A pattern such as src/migrations/NNNN-name.ts names its directory.
    const target = (p: string): string => (/NNNN/.test(p) ? path.dirname(p) : p);
    expect(paths.filter((p) => !existsSync(path.join(ROOT, target(p))))).toEqual([]);
  });

  it('when the document names a variable, then config, the verification script or the PM2 file reads it', () => {
    const keys = Object.keys(envSchema.shape);
    // Variables of the deployment tooling, not of the app's config.
    const tooling = read('scripts/verify-deployment.sh') + read('ecosystem.config.js');
    const named = [
      ...new Set([...doc.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(_\*)?/g)].map((m) => m[1] + (m[2] ?? ''))),
    ];
    expect(named.length).toBeGreaterThan(5);
    const unknown = named.filter((n) =>
      n.endsWith('_*') ? !keys.some((k) => k.startsWith(n.slice(0, -1))) : !keys.includes(n) && !tooling.includes(n),
    );
    expect(unknown).toEqual([]);
  });
});

describe('the extractors', () => {
  it('when given a sample, then they find scripts, CLI commands with flags, and paths', () => {
    const sample = [
      'run `npm run db:sync-indexes` then `npm run cli -- migrate:up --to 3`',
      'node dist/cli.js backup restore <id> --to x',
      '`npm run backup -- verify <id>` and scripts/verify-deployment.sh and [x](../deploy/nginx/erp-backend.conf)',
    ].join('\n');
    expect(npmRuns(sample).map((r) => r.script)).toEqual(['db:sync-indexes', 'cli', 'backup']);
    expect(cliCalls(sample).map((c) => [c.command, c.rest.trim()])).toEqual([
      ['migrate:up', '--to 3'],
      ['backup', 'restore <id> --to x'],
      ['backup', 'verify <id>'],
    ]);
    expect(repoPaths(sample)).toEqual(
      expect.arrayContaining(['scripts/verify-deployment.sh', 'deploy/nginx/erp-backend.conf']),
    );
  });
});
