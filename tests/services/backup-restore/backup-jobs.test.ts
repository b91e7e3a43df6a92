import { BackupJobs } from '../../../src/services/backup-restore/backup-jobs';
import { buildTestApp, TestClock, type TestApp } from '../../support/app';

describe('BackupJobs (job state in MongoDB, polled from any worker)', () => {
  let t: TestApp;
  const clock = new TestClock();
  const jobs = () => new BackupJobs({ jobs: t.container.models.BackupJob, logger: t.logger, now: clock.now });

  beforeAll(async () => {
    t = await buildTestApp(__filename, { BACKUP_ENABLED: 'false' }, { now: clock.now });
  });
  afterAll(() => t.close());

  it('when a job reports progress and finishes, then another instance reads its phases, result and final progress', async () => {
    const runner = jobs();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const id = await runner.start('create', { requestedBy: 'u1' }, async (report) => {
      report({
        phase: 'dumping',
        collectionsDone: 1,
        collectionsTotal: 4,
        documentsDone: 50,
        documentsTotal: 200,
        bytes: 1000,
        etaSeconds: 9,
      });
      await gate;
      return { backupId: 'b1' };
    });
    const reader = jobs();
    await new Promise((r) => setTimeout(r, 100));
    expect(await reader.get(id)).toMatchObject({
      id,
      type: 'create',
      status: 'running',
      requestedBy: 'u1',
      progress: { phase: 'dumping', documentsDone: 50, documentsTotal: 200, etaSeconds: 9 },
    });
    release();
    await runner.drain();
    expect(await reader.get(id)).toMatchObject({
      status: 'succeeded',
      result: { backupId: 'b1' },
      progress: { phase: 'done', documentsDone: 50, etaSeconds: 0 },
      finishedAt: expect.any(Date),
    });
  });

  it('when a job fails, then its error is recorded; when its process dies, then it reads abandoned once the heartbeat is old', async () => {
    const runner = jobs();
    const failed = await runner.start('verify', { backupId: 'b2' }, async () => {
      throw new Error('checksum mismatch in dump/erp/users.bson.gz');
    });
    await runner.drain();
    expect(await runner.get(failed)).toMatchObject({
      status: 'failed',
      error: /checksum mismatch/,
      progress: { phase: 'failed' },
    });

    // a job document left 'running' by a process that died
    const orphan = await runner.start('restore', {}, () => new Promise(() => undefined));
    expect((await runner.get(orphan))!.status).toBe('running');
    clock.advance(5 * 60_000);
    expect((await runner.get(orphan))!.status).toBe('abandoned');
  });
});
