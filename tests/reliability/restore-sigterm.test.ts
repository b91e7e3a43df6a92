import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EJSON } from 'bson';
import type { Db } from 'mongodb';
import { buildTestApp, TestClock, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { childEnv } from '../support/env';
import { runTs, type RunningProcess } from '../support/process';
import { waitFor } from '../support/wait';
import { recordFigures } from './support/report';

/**
 * Signals during a restore over the live database (a real CLI child process): SIGTERM while
 * staging leaves the target exactly as it was and the job says so; SIGKILL in the middle of the
 * swap leaves a journal from which recovery rolls the swap forward, so the target ends fully
 * restored and the job says it was finished by recovery. The engine's test pause
 * (BACKUP_RESTORE_TEST_PAUSE_DIR) holds the child at a known step, so the signal always lands there.
 */
describe('signals during a restore over the live database (CLI child process, server shutdown)', () => {
  const dir = tempDir('erp-rel-restore-sigterm');
  const clock = new TestClock();
  const LEDGERS = ['ledger_a', 'ledger_b', 'ledger_c'];
  let t: TestApp;
  let db: Db;

  // The in-process app's restores pause here too (the server-shutdown case below).
  const serverPauseDir = path.join(dir, 'pause-server');

  beforeAll(async () => {
    await fs.mkdir(serverPauseDir, { recursive: true });
    process.env.BACKUP_RESTORE_TEST_PAUSE_DIR = serverPauseDir;
    t = await buildTestApp(
      __filename,
      { BACKUP_ENABLED: 'false', BACKUP_DIR: dir, LOG_LEVEL: 'warn' },
      { now: clock.now },
    );
    db = t.container.database.db();
    for (const name of LEDGERS) {
      await db.collection(name).insertMany(Array.from({ length: 300 }, (_, i) => ({ n: i, name, v: 'backed-up' })));
      await db.collection(name).createIndex({ n: 1 }, { unique: true, name: 'n_unique' });
    }
  }, 300_000);
  afterAll(async () => {
    delete process.env.BACKUP_RESTORE_TEST_PAUSE_DIR;
    await t?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Documents (canonical EJSON, `_id` order) and index definitions of the business collections. */
  const snapshot = async (): Promise<Record<string, { docs: string; indexes: string }>> => {
    const out: Record<string, { docs: string; indexes: string }> = {};
    for (const name of LEDGERS) {
      const docs = await db.collection(name).find().sort({ _id: 1 }).toArray();
      const indexes = (await db.collection(name).listIndexes().toArray())
        .map((i) => ({ name: i.name as string, key: i.key as unknown, unique: i.unique === true }))
        .sort((a, b) => a.name.localeCompare(b.name));
      out[name] = { docs: EJSON.stringify(docs, { relaxed: false }), indexes: JSON.stringify(indexes) };
    }
    return out;
  };
  const collectionNames = async (): Promise<string[]> =>
    (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  const stagingLeft = async (): Promise<string[]> =>
    (await collectionNames()).filter((n) => n.startsWith('__restore_'));

  /** Changes the live data after the backup, so a restore visibly replaces it. */
  let divergences = 0;
  const diverge = async (tag: string): Promise<void> => {
    divergences++;
    for (const name of LEDGERS) {
      await db.collection(name).updateMany({ n: { $lt: 100 } }, { $set: { v: tag } });
      await db.collection(name).insertOne({ n: 10_000 + divergences, name, v: tag });
    }
  };

  const spawnRestore = async (backupId: string, pauseDir: string): Promise<RunningProcess> => {
    await fs.mkdir(pauseDir, { recursive: true });
    const child = runTs(
      'src/cli.ts',
      childEnv(t, { BACKUP_ENABLED: 'false', BACKUP_DIR: dir, BACKUP_RESTORE_TEST_PAUSE_DIR: pauseDir }),
      ['backup', 'restore', backupId, '--overwrite', '--confirm', backupId],
    );
    child.child.stdin?.end();
    return child;
  };
  const reached = async (pauseDir: string, kind: 'staged' | 'swapped'): Promise<string[]> =>
    (await fs.readdir(pauseDir)).filter((f) => f.startsWith(`reached.${kind}.`));
  const latestRestoreJob = async (): Promise<string> => {
    const doc = await db
      .collection<{ _id: string }>('backup_jobs')
      .find({ type: 'restore' })
      .sort({ createdAt: -1 })
      .limit(1)
      .next();
    return doc!._id;
  };

  it('when SIGTERM arrives while the restore is staging, then the target is untouched (documents and indexes) and the job says so', async () => {
    const backups = t.container.deps.operations.backups;
    const backup = await backups.create('manual');
    await diverge('after-backup-1');
    const before = await snapshot();
    const namesBefore = await collectionNames();

    const pauseDir = path.join(dir, 'pause-sigterm');
    const child = await spawnRestore(backup.id, pauseDir);
    await waitFor(async () => (await reached(pauseDir, 'staged')).length > 0, 120_000, 'the restore to be staging');
    expect(await stagingLeft()).not.toEqual([]);
    child.child.kill('SIGTERM');
    const code = await child.exited;

    expect(code).not.toBe(0);
    expect(child.stdout()).toMatch(/SIGTERM: cancelling the restore/);
    expect(child.stdout()).not.toMatch(/^restored into /m);
    expect(await snapshot()).toEqual(before);
    expect(await stagingLeft()).toEqual([]);
    // The safety backup taken first is a file, not a collection: the collection list is as before.
    expect(await collectionNames()).toEqual(namesBefore);

    const job = await backups.job(await latestRestoreJob());
    expect(job).toMatchObject({
      status: 'failed',
      restore: { phase: 'rolled-back', targetChanged: false, swapped: [] },
    });
    expect(job?.error).toMatch(/cancelled/);
    recordFigures('restore-sigterm-staging', { jobId: job?.id, exitCode: code, targetUntouched: true });
  }, 300_000);

  it('when the restore is killed (SIGKILL) mid-swap, then recovery rolls the swap forward: the target equals the backup and the job says finished by recovery', async () => {
    const backups = t.container.deps.operations.backups;
    // The previous test's run released the lease; this backup is the state to restore.
    const backup = await backups.create('manual');
    const expected = await snapshot();
    await diverge('after-backup-2');
    expect(await snapshot()).not.toEqual(expected);

    const pauseDir = path.join(dir, 'pause-sigkill');
    await fs.mkdir(pauseDir, { recursive: true });
    await fs.writeFile(path.join(pauseDir, 'go.staged'), '');
    const child = await spawnRestore(backup.id, pauseDir);
    await waitFor(async () => (await reached(pauseDir, 'swapped')).length > 0, 120_000, 'the swap to have begun');
    const jobId = await latestRestoreJob();
    const during = await backups.job(jobId);
    expect(during?.restore?.phase).toBe('swapping');
    expect(during?.restore?.swapped).toHaveLength(1);
    const total = during?.restore?.collections.length ?? 0;
    expect(total).toBeGreaterThanOrEqual(LEDGERS.length);
    child.child.kill('SIGKILL');
    await child.exited;
    // Half swapped: a later collection still has staging left behind.
    expect((await stagingLeft()).length).toBe(total - 1);

    // The dead run holds the lease until it expires; then recovery (as at the next start or backup run) finishes the swap.
    await expect(backups.recoverInterruptedRestores()).rejects.toMatchObject({ status: 409 });
    clock.advance(5 * 60_000);
    expect(await backups.recoverInterruptedRestores()).toEqual([jobId]);

    expect(await snapshot()).toEqual(expected);
    expect(await stagingLeft()).toEqual([]);
    const after = await backups.job(jobId);
    expect(after).toMatchObject({
      status: 'succeeded',
      restore: { phase: 'done', targetChanged: true, finishedBy: 'recovery' },
    });
    expect([...(after?.restore?.swapped ?? [])].sort()).toEqual(
      [...(after?.restore?.collections.map((c) => c.target) ?? [])].sort(),
    );
    // Nothing left to recover; a normal backup runs again.
    expect(await backups.recoverInterruptedRestores()).toEqual([]);
    await backups.create('manual');
    recordFigures('restore-sigkill-mid-swap', { jobId, collections: total, swappedBeforeKill: 1 });
  }, 300_000);

  // Last: stop() cancels this app's backup jobs for good, as at shutdown.
  it('when the server shuts down (SIGTERM → BackupRestoreService.stop) during an API restore job still staging, then the job is rolled back and the target untouched', async () => {
    const backups = t.container.deps.operations.backups;
    const backup = await backups.create('manual');
    await diverge('after-backup-3');
    const before = await snapshot();

    const jobId = await backups.startRestore(backup.id, { overwrite: true, confirm: backup.id });
    await waitFor(async () => (await reached(serverPauseDir, 'staged')).length > 0, 120_000, 'the job to be staging');
    expect((await backups.job(jobId))?.restore?.phase).toBe('staging');
    await backups.stop();

    expect(await snapshot()).toEqual(before);
    expect(await stagingLeft()).toEqual([]);
    expect(await backups.job(jobId)).toMatchObject({
      status: 'failed',
      restore: { phase: 'rolled-back', targetChanged: false },
    });
  }, 300_000);
});
