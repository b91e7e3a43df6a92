import mongoose from 'mongoose';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { childEnv, testMongoUri, testNamespace } from './support/env';
import { ROOT, runTs } from './support/process';
import { MIGRATIONS } from '../src/migrations';

describe('npm run cli -- migrate:*', () => {
  const ns = testNamespace(__filename);
  const env = childEnv(ns);
  const cli = async (...args: string[]) => {
    const p = runTs('src/cli.ts', env, args);
    p.child.stdin?.end();
    return { code: await p.exited, out: p.stdout(), err: p.stderr() };
  };
  afterAll(async () => {
    const conn = await mongoose.createConnection(testMongoUri(ns.dbName)).asPromise();
    await conn.dropDatabase();
    await conn.close();
  });

  it('when every file under src/migrations is NNNN-name.ts, then the registry lists exactly those files in order', () => {
    const files = readdirSync(path.join(ROOT, 'src/migrations'))
      .filter((f) => f !== 'index.ts')
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(MIGRATIONS.map((m) => m.id)).toEqual(files);
  });

  it('when migrate:up runs on an empty database, then 0001-sync-indexes creates the indexes; a second run and down behave', async () => {
    const before = await cli('migrate:status');
    expect(before.code).toBe(0);
    expect(before.out).toMatch(/^0001-sync-indexes\s+pending\s+\(no down\)$/m);

    const up = await cli('migrate:up');
    expect(up.err).toBe('');
    expect(up.code).toBe(0);
    expect(up.out).toMatch(/applied 0001-sync-indexes\n1 migration\(s\) applied/);
    const conn = await mongoose.createConnection(testMongoUri(ns.dbName)).asPromise();
    try {
      const userIndexes = await conn.db!.collection('users').indexes();
      expect(userIndexes.some((i) => i.unique === true)).toBe(true);
      expect(await conn.db!.collection('migrations').findOne({ _id: '0001-sync-indexes' as never })).toMatchObject({
        state: 'applied',
      });
    } finally {
      await conn.close();
    }

    const again = await cli('migrate:up');
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/nothing to apply/);
    expect((await cli('migrate:status')).out).toMatch(/^0001-sync-indexes\s+applied\s+\d{4}-\d\d-\d\dT/m);

    const down = await cli('migrate:down');
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/0001-sync-indexes has no down step/);
    expect((await cli('migrate:status')).out).toMatch(/^0001-sync-indexes\s+applied/m);

    const bad = await cli('migrate:up', '--to', 'latest');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--to takes a migration number/);
  }, 120_000);
});
