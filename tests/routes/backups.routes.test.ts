import { promises as fs } from 'node:fs';
import request from 'supertest';
import { LeaseManager } from '../../src/jobs/lease';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { pollBackupJob } from '../support/backup-jobs';
import { expectProblem } from '../support/problems';
import { RecordingAlerts } from '../support/recording-alerts';
import { createUser, mfaSession, bearer, PASSWORD } from '../support/users';

describe('/api/v1/admin/backups', () => {
  let t: TestApp;
  let dir: string;
  const tok: Record<string, string> = {};

  beforeAll(async () => {
    dir = tempDir('backup-routes');
    t = await buildTestApp(
      __filename,
      { ...ROUTE_TEST_ENV, BACKUP_ENABLED: 'false', BACKUP_DIR: dir },
      { backupAlerts: new RecordingAlerts() },
    );
    const admin = await createUser(t, 'root@corp.example', 'admin', 'it');
    const manager = await createUser(t, 'mia@corp.example', 'manager', 'sales');
    tok.admin = await mfaSession(t, admin);
    tok.manager = await mfaSession(t, manager);
    // the same admin, in a session that did not pass a second factor
    const { session } = await t.container.sessions.create(admin, false);
    tok.adminNo2fa = await t.container.tokens.signAccess({
      sub: admin,
      sid: session._id,
      role: 'admin',
      dept: 'it',
      mfa: false,
      enroll: false,
    });
    await t.container.database
      .db()
      .collection('widgets')
      .insertMany(Array.from({ length: 25 }, (_, i) => ({ n: i })));
  });
  afterAll(async () => {
    await t.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const pollJob = (jobId: string) => pollBackupJob(t.app, tok.admin, jobId);

  let backupId: string;

  it('when an admin starts a backup, then 202 with a job id, and polling shows progress to completion and the backup in the list', async () => {
    const res = await request(t.app)
      .post('/api/v1/admin/backups')
      .set(...bearer(tok.admin))
      .send({});
    expect(res.status).toBe(202);
    expect(res.body.jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.location).toBe(`/api/v1/admin/backups/jobs/${res.body.jobId}`);
    const job = await pollJob(res.body.jobId);
    expect(job.body).toMatchObject({
      type: 'create',
      status: 'succeeded',
      progress: { phase: 'done', etaSeconds: 0 },
      result: { backupId: expect.any(String) },
    });
    expect(job.body.progress.documentsDone).toBeGreaterThanOrEqual(25);
    expect(job.body.progress.collectionsDone).toBe(job.body.progress.collectionsTotal);
    backupId = job.body.result.backupId;
    const list = await request(t.app)
      .get('/api/v1/admin/backups')
      .set(...bearer(tok.admin));
    expect(list.status).toBe(200);
    expect(list.body.items.map((b: { id: string }) => b.id)).toEqual([backupId]);
    const one = await request(t.app)
      .get(`/api/v1/admin/backups/${backupId}`)
      .set(...bearer(tok.admin));
    expect(one.body).toMatchObject({ id: backupId, kind: 'manual', locations: ['local'] });
  });

  it('when an admin verifies a backup, then 202 and the job records a passed verification by restore', async () => {
    const res = await request(t.app)
      .post(`/api/v1/admin/backups/${backupId}/verify`)
      .set(...bearer(tok.admin))
      .send({});
    expect(res.status).toBe(202);
    const job = await pollJob(res.body.jobId);
    expect(job.body).toMatchObject({ status: 'succeeded', result: { verification: { ok: true, method: 'restore' } } });
  });

  it('when an admin restores into another database, then 202 and the job reports the restored collections', async () => {
    const toDb = `${t.dbName}_copy`.slice(0, 63);
    const res = await request(t.app)
      .post(`/api/v1/admin/backups/${backupId}/restore`)
      .set(...bearer(tok.admin))
      .send({ toDb, collections: ['widgets'] });
    expect(res.status).toBe(202);
    const job = await pollJob(res.body.jobId);
    expect(job.body).toMatchObject({
      status: 'succeeded',
      result: { db: toDb, collections: [{ collection: 'widgets', documents: 25 }], safetyBackupId: null },
    });
    await t.container.database.connection.getClient().db(toDb).dropDatabase();
  });

  it('when a restore over the live database comes without the confirmation, then 400 and no job is started', async () => {
    const jobsBefore = await t.container.models.BackupJob.countDocuments();
    for (const body of [
      {},
      { overwrite: true, password: PASSWORD },
      { overwrite: true, confirm: 'someone-else', password: PASSWORD },
    ]) {
      const res = await request(t.app)
        .post(`/api/v1/admin/backups/${backupId}/restore`)
        .set(...bearer(tok.admin))
        .send(body);
      expectProblem(res, 400, /restore-confirmation-required$/);
    }
    expect(await t.container.models.BackupJob.countDocuments()).toBe(jobsBefore);
  });

  it('when the input is malformed, then 400/404 problems, never a 500', async () => {
    const bad = await request(t.app)
      .post(`/api/v1/admin/backups/${backupId}/restore`)
      .set(...bearer(tok.admin))
      .send({ toDb: '../etc', overwrite: 'yes' });
    expectProblem(bad, 400);
    const traversal = await request(t.app)
      .get('/api/v1/admin/backups/..%2F..%2Fetc')
      .set(...bearer(tok.admin));
    expect([400, 404]).toContain(traversal.status);
    const missing = await request(t.app)
      .post('/api/v1/admin/backups/no-such-backup/verify')
      .set(...bearer(tok.admin))
      .send({});
    expectProblem(missing, 404);
    const noJob = await request(t.app)
      .get('/api/v1/admin/backups/jobs/00000000-0000-4000-8000-000000000000')
      .set(...bearer(tok.admin));
    expectProblem(noJob, 404);
  });

  it('when another backup operation holds the cluster lease, then starting one answers 409 backup-busy at once', async () => {
    const other = new LeaseManager({ leases: t.container.models.JobLease });
    const lease = await other.acquire('backup', 'another-host', 60_000);
    try {
      const res = await request(t.app)
        .post('/api/v1/admin/backups')
        .set(...bearer(tok.admin))
        .send({});
      expectProblem(res, 409, /backup-busy$/);
    } finally {
      await other.release(lease!);
    }
  });

  it('when a non-admin calls, then 403; when an admin session lacks 2FA, then the mfa-required problem; anonymous gets 401', async () => {
    for (const [method, url] of [
      ['get', '/api/v1/admin/backups'],
      ['post', '/api/v1/admin/backups'],
      ['post', `/api/v1/admin/backups/${backupId}/restore`],
    ] as const) {
      const m = await request(t.app)
        [method](url)
        .set(...bearer(tok.manager))
        .send({ toDb: 'elsewhere' });
      expectProblem(m, 403, /forbidden$/);
      const no2fa = await request(t.app)
        [method](url)
        .set(...bearer(tok.adminNo2fa))
        .send({ toDb: 'elsewhere' });
      expectProblem(no2fa, 403, /mfa-required$/);
      const anon = await request(t.app)[method](url).send({});
      expectProblem(anon, 401);
    }
  });
});
