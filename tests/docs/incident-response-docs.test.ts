import { readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { envSchema } from '../../src/config';
import { buildTestApp, type TestApp } from '../support/app';
import { cliCommands, unknownCliReferences } from '../support/cli-references';
import { ROOT } from '../support/process';
import { bearer, createUser, mfaSession } from '../support/users';

const doc = readFileSync(path.join(ROOT, 'docs/INCIDENT_RESPONSE.md'), 'utf8');

/** `cli <command> …` as the document writes it (also `node dist/cli.js <command>`). */
const cliCalls = (): Array<{ command: string; rest: string }> =>
  [...doc.matchAll(/(?:`cli|node dist\/cli\.js) ([a-z][a-z:-]*)([^`\n]*)/g)].map((m) => ({
    command: m[1],
    rest: m[2],
  }));

/** Every `METHOD /path` and every curl call of the document, placeholders and query strings removed. */
function apiCalls(): Array<{ method: string; path: string }> {
  const calls: Array<{ method: string; path: string }> = [];
  for (const m of doc.matchAll(/\b(GET|POST|PATCH|PUT|DELETE) (\/(?:<[^>]*>|[^\s`"?<])+)/g))
    calls.push({ method: m[1], path: m[2] });
  for (const line of doc.split('\n').filter((l) => /\bcurl\b/.test(l))) {
    const url = /"\$BASE(\/[^"?]*)/.exec(line);
    if (url) calls.push({ method: /-X (GET|POST|PATCH|PUT|DELETE)\b/.exec(line)?.[1] ?? 'GET', path: url[1] });
  }
  return calls.map((c) => ({ ...c, path: c.path.replace(/<[^>]+>|\{[^}]+\}/g, 'aaaaaaaaaaaaaaaaaaaaaaaa') }));
}

describe('docs/INCIDENT_RESPONSE.md', () => {
  it('when the document names a CLI command, backup subcommand or flag, then the CLI has it', async () => {
    const commands = await cliCommands();
    expect(commands.has('audit:verify')).toBe(true);
    const calls = cliCalls();
    expect(calls.length).toBeGreaterThan(20);
    const problems = unknownCliReferences(calls, commands);
    expect(problems).toEqual([]);
  }, 60_000);

  it('when the document names a configuration variable, then config has it', () => {
    const named = [...new Set([...doc.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)/g)].map((m) => m[1]))];
    expect(named).toEqual(expect.arrayContaining(['JWT_SECRET', 'ENCRYPTION_KEYS', 'AUDIT_HMAC_KEYS']));
    expect(named.filter((n) => !Object.hasOwn(envSchema.shape, n))).toEqual([]);
  });

  describe('against the app', () => {
    let t: TestApp;
    let guest: string;
    beforeAll(async () => {
      t = await buildTestApp(__filename, { BCRYPT_COST: '10' });
      guest = await mfaSession(t, await createUser(t, 'guest@ir-docs.example', 'guest'));
    });
    afterAll(() => t.close());

    it('when the document names an API call, then the app has that route and method', async () => {
      const calls = apiCalls();
      expect(calls.length).toBeGreaterThan(20);
      const missing: string[] = [];
      for (const c of calls) {
        // A guest holds no permission: a route that exists answers 401/403/400 before doing anything,
        // one that does not answers the router's own 404 ("No route for …") or 405.
        const res = await request(t.app)
          [c.method.toLowerCase() as 'get' | 'post' | 'patch' | 'put' | 'delete'](c.path)
          .set(...bearer(guest))
          .set('Content-Type', 'application/json')
          .send(c.method === 'GET' || c.method === 'DELETE' ? undefined : '{}');
        const noRoute = res.status === 405 || (res.status === 404 && /^No route for/.test(String(res.body.detail)));
        if (noRoute) missing.push(`${c.method} ${c.path} → ${res.status}`);
      }
      expect(missing).toEqual([]);
    }, 60_000);
  });
});
