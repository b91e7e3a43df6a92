import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { buildTestApp, TestClock, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { childEnv } from '../support/env';
import { runTs } from '../support/process';
import { waitFor } from '../support/wait';
import { recordFigures } from './support/report';

/**
 * `kill -9` of the backup CLI while it is dumping: the half-written backup must never be
 * listed, fetched or pruned as a backup, and the next run (after the dead run's cluster lease
 * expired) cleans it away and produces a complete backup.
 */
describe('kill -9 during a backup (CLI child process)', () => {
  const dir = tempDir('erp-rel-backup-kill');
  const clock = new TestClock();
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp(
      __filename,
      { BACKUP_ENABLED: 'false', BACKUP_DIR: dir, LOG_LEVEL: 'warn' },
      { now: clock.now },
    );
    // Enough data that dumping takes a moment on FerretDB.
    const db = t.container.database.db();
    const filler = 'x'.repeat(400);
    for (const name of ['ledger_a', 'ledger_b'])
      for (let batch = 0; batch < 2; batch++)
        await db
          .collection(name)
          .insertMany(Array.from({ length: 2_000 }, (_, i) => ({ n: batch * 2_000 + i, filler })));
  }, 300_000);
  afterAll(async () => {
    await t?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const entries = async (): Promise<string[]> => (await fs.readdir(dir)).sort();

  it('when the backup process is killed mid-dump, then the partial backup is never listed or chosen, and the next run removes it and completes', async () => {
    const backups = t.container.deps.operations.backups;
    const before = await backups.create('manual');

    const child = runTs('src/cli.ts', childEnv(t, { BACKUP_ENABLED: 'false', BACKUP_DIR: dir }), ['backup', 'create']);
    child.child.stdin?.end();
    await waitFor(
      async () => /progress: dumping/.test(child.stdout()) && (await entries()).some((e) => e.startsWith('.tmp-')),
      120_000,
      'the CLI to be dumping into its temporary directory',
      20,
    );
    const killedAt = Date.now();
    child.child.kill('SIGKILL');
    await child.exited;
    expect(child.stdout()).not.toMatch(/^created /m);
    const partial = (await entries()).find((e) => e.startsWith('.tmp-'))!;
    expect(partial).toBeDefined();
    const partialId = partial.slice('.tmp-'.length);

    // Never listed, fetched, chosen for restore, or counted as the last backup.
    expect((await backups.list()).map((b) => b.id)).toEqual([before.id]);
    expect(await backups.get(partialId)).toBeNull();
    await expect(backups.startRestore(partialId, { toDb: `${t.dbName}_r` })).rejects.toMatchObject({ status: 404 });
    const listed = runTs('src/cli.ts', childEnv(t, { BACKUP_ENABLED: 'false', BACKUP_DIR: dir }), ['backup', 'list']);
    listed.child.stdin?.end();
    expect(await listed.exited).toBe(0);
    expect(listed.stdout().trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^${before.id}\\t`))]);

    // The dead run still holds the cluster lease until it expires: nobody else writes meanwhile.
    await expect(backups.create('manual')).rejects.toMatchObject({ status: 409 });
    clock.advance(5 * 60_000);
    const after = await backups.create('manual', { prune: true });
    // The next run cleaned the abandoned directory away and produced a complete backup.
    expect(await entries()).toEqual([before.id, after.id].sort());
    expect(existsSync(path.join(dir, partial))).toBe(false);
    expect((await backups.list()).map((b) => b.id).sort()).toEqual([before.id, after.id].sort());
    recordFigures('backup-kill-9', {
      killedAt: new Date(killedAt).toISOString(),
      partialId,
      leftoverRemovedBy: after.id,
    });
  }, 300_000);
});
