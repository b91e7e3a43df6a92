import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { freePort } from '../scripts/local-services';
import { testMongoUri, testNamespace, testRedisUrl } from './support/env';
import { runTs } from './support/process';

/** The CLI as a second terminal beside `npm run dev` runs it: no MONGODB_URI or REDIS_URL of its own. */
describe('operator CLI beside npm run dev', () => {
  const ns = testNamespace(__filename);
  const dir = mkdtempSync(path.join(tmpdir(), 'erp-cli-'));
  const base = { NODE_ENV: 'development', REDIS_KEY_PREFIX: ns.redisPrefix, MONGODB_MIN_POOL_SIZE: '1' };
  afterAll(async () => {
    const conn = await mongoose.createConnection(testMongoUri(ns.dbName)).asPromise();
    await conn.dropDatabase();
    await conn.close();
  });

  const cli = async (env: Record<string, string>, ...args: string[]) => {
    const p = runTs('src/cli.ts', env, args);
    const startedAt = Date.now();
    const code = await p.exited;
    return { code, out: p.stdout(), err: p.stderr(), ms: Date.now() - startedAt };
  };
  const noStackTrace = (text: string): void => {
    expect(text).not.toMatch(/^\s+at /m);
    expect(text).not.toMatch(/"stack"|MongoNetworkError:|node_modules/);
  };

  it('when npm run dev has recorded its servers, then the CLI uses them', async () => {
    const file = path.join(dir, 'recorded.json');
    writeFileSync(file, JSON.stringify({ mongodbUri: testMongoUri(ns.dbName), redisUrl: testRedisUrl() }));
    const res = await cli({ ...base, LOCAL_SERVICES_FILE: file }, 'db:stats');
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.out)).toMatchObject({ db: ns.dbName });
  }, 60_000);

  it('when nothing is configured or recorded, then it says in one line what to do and exits 1 at once', async () => {
    const res = await cli({ ...base, LOCAL_SERVICES_FILE: path.join(dir, 'never-written.json') }, 'db:stats');
    expect(res.code).toBe(1);
    expect(res.out).toBe('');
    const lines = res.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/MONGODB_URI and REDIS_URL are not set .*npm run dev/);
  }, 60_000);

  it('when the recorded MongoDB is not running, then one line names it and where it came from, without a stack trace, exit 1', async () => {
    const closed = await freePort();
    const file = path.join(dir, 'stale.json');
    writeFileSync(file, JSON.stringify({ mongodbUri: `mongodb://127.0.0.1:${closed}/erp`, redisUrl: testRedisUrl() }));
    const res = await cli(
      { ...base, LOCAL_SERVICES_FILE: file, MONGODB_SERVER_SELECTION_TIMEOUT_MS: '500' },
      'user:create',
      '--email',
      'nobody@cli.example',
      '--role',
      'admin',
    );
    expect(res.code).toBe(1);
    const lines = res.err.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(
        new RegExp(`^cli: cannot reach MongoDB at mongodb://127\\.0\\.0\\.1:${closed}/erp .*stale\\.json`),
      ),
    ]);
    expect(lines[0]).toMatch(/npm run dev/);
    noStackTrace(res.err);
  }, 60_000);

  it('when an explicit REDIS_URL is unreachable, then one line names REDIS_URL, exit 1, credentials redacted', async () => {
    const closed = await freePort();
    const res = await cli(
      { ...base, MONGODB_URI: testMongoUri(ns.dbName), REDIS_URL: `redis://:hunter2-secret@127.0.0.1:${closed}` },
      'db:stats',
    );
    expect(res.code).toBe(1);
    expect(res.out).toBe('');
    expect(res.err.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(`^cli: cannot reach Redis at redis://\\*\\*\\*@127\\.0\\.0\\.1:${closed} .*REDIS_URL`),
      ),
    ]);
    expect(res.err).not.toContain('hunter2');
    noStackTrace(res.err);
  }, 60_000);
});
