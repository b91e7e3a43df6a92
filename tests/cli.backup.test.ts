import { promises as fs } from 'node:fs';
import mongoose from 'mongoose';
import { childEnv, testMongoUri, testNamespace } from './support/env';
import { tempDir } from './support/backup-fixtures';
import { runTs } from './support/process';

describe('npm run backup (operator CLI, not a terminal)', () => {
  const ns = testNamespace(__filename);
  const dir = tempDir('backup-cli');
  const env = childEnv(ns, { BACKUP_ENABLED: 'false', BACKUP_DIR: dir });
  const backup = async (...args: string[]) => {
    const p = runTs('src/cli.ts', env, ['backup', ...args]);
    p.child.stdin?.end();
    return { code: await p.exited, out: p.stdout(), err: p.stderr() };
  };

  beforeAll(async () => {
    const conn = await mongoose.createConnection(testMongoUri(ns.dbName)).asPromise();
    await conn.db!.collection('widgets').insertMany(Array.from({ length: 30 }, (_, i) => ({ n: i })));
    await conn.close();
  });
  afterAll(async () => {
    const conn = await mongoose.createConnection(testMongoUri(ns.dbName)).asPromise();
    await conn.dropDatabase();
    await conn.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('when create and list run without a terminal, then progress comes as plain lines and the backup is listed', async () => {
    const created = await backup('create');
    expect(created.err).toBe('');
    expect(created.code).toBe(0);
    expect(created.out).not.toContain('\r');
    expect(created.out).toMatch(/^progress: dumping collections \d+\/\d+ documents \d+\/\d+/m);
    const id = /^created (\S+): \d+ collections, (\d+) documents/m.exec(created.out);
    expect(id).not.toBeNull();
    expect(Number(id![2])).toBeGreaterThanOrEqual(30);

    const listed = await backup('list');
    expect(listed.code).toBe(0);
    expect(listed.out.split('\n')[0]).toMatch(new RegExp(`^${id![1]}\\tmanual\\t.*\\tunverified\\tlocal$`));

    const refused = await backup('restore', id![1]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/overwrite: true and confirm/);

    const wrong = await backup('frobnicate');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/usage: backup create \| list/);
  }, 180_000);
});
