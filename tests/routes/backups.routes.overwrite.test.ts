import { promises as fs } from 'node:fs';
import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { auditCount } from '../support/audit';
import { tempDir } from '../support/backup-fixtures';
import { pollBackupJob } from '../support/backup-jobs';
import { expectProblem } from '../support/problems';
import { RecordingAlerts } from '../support/recording-alerts';
import { bearer, createUser, mfaSession, PASSWORD } from '../support/users';

const DAY = 86_400_000;

/**
 * A restore over the live database through HTTP needs the caller's password again (step-up):
 * a stolen access token plus the backup id (shown in every listing) must not replace production data.
 */
describe('POST /api/v1/admin/backups/:id/restore over the live database', () => {
  let t: TestApp;
  let dir: string;
  let backupId: string;
  const users: Record<string, string> = {};
  const tok: Record<string, string> = {};

  beforeAll(async () => {
    dir = tempDir('backup-routes-overwrite');
    t = await buildTestApp(
      __filename,
      { ...ROUTE_TEST_ENV, BACKUP_ENABLED: 'false', BACKUP_DIR: dir },
      { backupAlerts: new RecordingAlerts() },
    );
    for (const name of ['root', 'guesser']) {
      users[name] = await createUser(t, `${name}@overwrite.example`, 'admin', 'it');
      tok[name] = await mfaSession(t, users[name]);
    }
    await widgets().insertMany(Array.from({ length: 25 }, (_, i) => ({ n: i })));
    backupId = (await t.container.deps.operations.backups.create('manual')).id;
  });
  afterAll(async () => {
    await t.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const widgets = () => t.container.database.db().collection('widgets');
  const restore = (who: string, body: Record<string, unknown>) =>
    request(t.app)
      .post(`/api/v1/admin/backups/${backupId}/restore`)
      .set(...bearer(tok[who]))
      .send(body);
  const jobs = () => t.container.models.BackupJob.countDocuments();
  const safetyBackups = async () =>
    (await t.container.deps.operations.backups.list()).filter((b) => b.kind === 'safety').length;
  /** Live data the backup does not have: a restore over the live database would remove it. */
  const markLive = async (marker: string) => {
    await widgets().insertOne({ marker });
    return async () => expect(await widgets().countDocuments({ marker })).toBe(1);
  };
  const pollJob = (jobId: string) => pollBackupJob(t.app, tok.root, jobId);

  it('when an overwrite comes without the password, then 400 naming the password, no job is started and the live data is untouched', async () => {
    const untouched = await markLive('no-password');
    const jobsBefore = await jobs();
    for (const body of [
      { overwrite: true, confirm: backupId },
      { overwrite: true, confirm: backupId, toDb: t.dbName },
    ]) {
      const res = await restore('root', body);
      expectProblem(res, 400, /validation-failed$/);
      expect(res.body.errors).toEqual([{ path: 'body.password', message: expect.stringMatching(/password/) }]);
    }
    expect(await jobs()).toBe(jobsBefore);
    await untouched();
  });

  it('when an overwrite comes with a wrong password, then 403 as for any re-authentication, audited, and nothing is restored and no safety backup taken', async () => {
    const untouched = await markLive('wrong-password');
    const [jobsBefore, safetyBefore] = [await jobs(), await safetyBackups()];
    const failedBefore = await auditCount(t, { action: 'backup.restore.overwrite', actorId: users.root });
    const res = await restore('root', { overwrite: true, confirm: backupId, password: 'not-the-password-at-all' });
    expectProblem(res, 403, /forbidden$/);
    expect(res.body.detail).toBe('The current password is incorrect.');
    expect(
      await auditCount(t, {
        action: 'backup.restore.overwrite',
        outcome: 'failed',
        actorId: users.root,
        'details.reason': 'wrong-password',
      }),
    ).toBe(failedBefore + 1);
    expect([await jobs(), await safetyBackups()]).toEqual([jobsBefore, safetyBefore]);
    await untouched();
  });

  it('when the confirmation is wrong, then 400 restore-confirmation-required before the password is looked at (no attempt audited)', async () => {
    const untouched = await markLive('wrong-confirmation');
    const attemptsBefore = await auditCount(t, { action: 'backup.restore.overwrite', actorId: users.root });
    const res = await restore('root', {
      overwrite: true,
      confirm: 'someone-else',
      password: 'not-the-password-at-all',
    });
    expectProblem(res, 400, /restore-confirmation-required$/);
    expect(await auditCount(t, { action: 'backup.restore.overwrite', actorId: users.root })).toBe(attemptsBefore);
    await untouched();
  });

  it('when wrong passwords are repeated, then they count like sign-in failures: the next try waits (429), even with the right password, and nothing is restored', async () => {
    const untouched = await markLive('guessing');
    const jobsBefore = await jobs();
    for (let i = 0; i < 3; i++)
      expectProblem(
        await restore('guesser', { overwrite: true, confirm: backupId, password: `wrong-guess-${i}` }),
        403,
      );
    const locked = await restore('guesser', { overwrite: true, confirm: backupId, password: PASSWORD });
    expectProblem(locked, 429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await jobs()).toBe(jobsBefore);
    await untouched();
  });

  it('when an API key with backup:restore calls, then restoring over the live database is refused with 403, and into another database still works', async () => {
    const untouched = await markLive('api-key');
    const minted = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(tok.root))
      .send({ name: 'restorer', scopes: ['backup:restore:any'], expiresAt: new Date(Date.now() + DAY).toISOString() });
    expect(minted.status).toBe(201);
    const key = minted.body.key as string;
    const jobsBefore = await jobs();
    for (const body of [
      { overwrite: true, confirm: backupId, password: PASSWORD },
      { overwrite: true, confirm: backupId },
      { overwrite: true, confirm: backupId, toDb: t.dbName, password: PASSWORD },
      {},
    ]) {
      const res = await request(t.app)
        .post(`/api/v1/admin/backups/${backupId}/restore`)
        .set('X-API-Key', key)
        .send(body);
      expectProblem(res, 403, /forbidden$/);
      expect(res.body.detail).toMatch(/API keys cannot restore over the live database/);
    }
    expect(await jobs()).toBe(jobsBefore);
    await untouched();

    const toDb = `${t.dbName}_key`.slice(0, 63);
    const elsewhere = await request(t.app)
      .post(`/api/v1/admin/backups/${backupId}/restore`)
      .set('X-API-Key', key)
      .send({ toDb, collections: ['widgets'] });
    expect(elsewhere.status).toBe(202);
    expect((await pollJob(elsewhere.body.jobId)).body).toMatchObject({
      status: 'succeeded',
      result: { db: toDb, safetyBackupId: null },
    });
    await t.container.database.connection.getClient().db(toDb).dropDatabase();
  });

  it('when an overwrite comes with the right password and the confirmation, then a safety backup is taken and the live data comes back as in the backup', async () => {
    await widgets().deleteMany({ n: { $gte: 20 } });
    await widgets().insertOne({ marker: 'right-password' });
    const safetyBefore = await safetyBackups();
    const res = await restore('root', { overwrite: true, confirm: backupId, password: PASSWORD });
    expect(res.status).toBe(202);
    const job = await pollJob(res.body.jobId);
    expect(job.body).toMatchObject({
      status: 'succeeded',
      result: { db: t.dbName, safetyBackupId: expect.any(String) },
    });
    expect(await safetyBackups()).toBe(safetyBefore + 1);
    expect(await widgets().countDocuments({})).toBe(25);
    expect(await widgets().countDocuments({ marker: { $exists: true } })).toBe(0);
    expect(
      await auditCount(t, {
        action: 'backup.restored',
        outcome: 'succeeded',
        resourceId: backupId,
        actorId: users.root,
      }),
    ).toBe(1);
  });
});
