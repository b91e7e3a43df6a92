import { GetObjectCommand } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LeaseManager } from '../../../src/jobs/lease';
import { AppError } from '../../../src/lib/errors';
import { BACKUP_FRESHNESS } from '../../../src/services/backup-restore/backup-restore.service';
import { buildTestApp, TestClock, type TestApp } from '../../support/app';
import { tempDir } from '../../support/backup-fixtures';
import { RecordingAlerts } from '../../support/recording-alerts';
import { startVersitygw, VERSITYGW_ACCESS_KEY, VERSITYGW_SECRET_KEY, type VersityPeer } from '../../support/versitygw';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('BackupRestoreService: real engine, real database, real S3 (versitygw)', () => {
  let t: TestApp;
  let peer: VersityPeer;
  let dir: string;
  const clock = new TestClock();
  const alerts = new RecordingAlerts();
  const backups = () => t.container.backups;
  const widgets = () => t.container.database.connection.getClient().db(t.dbName).collection('widgets');

  beforeAll(async () => {
    peer = await startVersitygw();
    await peer.createBucket('erp-backups');
    dir = tempDir('backup-service');
    t = await buildTestApp(
      __filename,
      {
        BACKUP_ENABLED: 'false',
        BACKUP_DIR: dir,
        BACKUP_ENCRYPT: 'true',
        BACKUP_S3_BUCKET: 'erp-backups',
        BACKUP_S3_PREFIX: 'prod/',
        BACKUP_S3_ENDPOINT: peer.endpoint,
        BACKUP_S3_FORCE_PATH_STYLE: 'true',
        BACKUP_S3_ACCESS_KEY_ID: VERSITYGW_ACCESS_KEY,
        BACKUP_S3_SECRET_ACCESS_KEY: VERSITYGW_SECRET_KEY,
      },
      { now: clock.now, backupAlerts: alerts },
    );
    await widgets().insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: i, name: `w${i}`, qty: i * 3 }) as never));
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await peer?.stop().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  });

  let first: string;

  it('when a scheduled daily backup runs, then it is complete locally and in S3, verified by restore, audited, and counts as fresh', async () => {
    const m = await backups().create('daily', { verify: true });
    first = m.id;
    expect(m.encryption?.algorithm).toBe('aes-256-gcm');
    const listed = await backups().get(m.id);
    expect(listed).toMatchObject({ id: m.id, kind: 'daily', locations: ['local', 's3'], encrypted: true });
    expect(listed!.verification).toMatchObject({ ok: true, method: 'restore' });
    // the verification result is in the local and the S3 manifest
    expect(JSON.parse(await fs.readFile(path.join(dir, m.id, 'manifest.json'), 'utf8')).verification.ok).toBe(true);
    const out = await peer.client.send(
      new GetObjectCommand({ Bucket: 'erp-backups', Key: `prod/${m.id}/manifest.json` }),
    );
    const remote = JSON.parse(await out.Body!.transformToString());
    expect(remote.verification).toMatchObject({ ok: true });
    expect(await backups().lastVerifiedBackupAt()).toEqual(new Date(m.finishedAt));
    expect((await backups().freshness()).status).toBe('pass');
    const audit = await t.container.models.AuditEvent.find({ action: /^backup\./ }).lean();
    expect(audit.map((a) => `${a.action}:${a.outcome}`)).toEqual(
      expect.arrayContaining(['backup.created:succeeded', 'backup.verified:succeeded']),
    );
  });

  it('when restored into another database, then every widget is there; over the live database without confirmation, it is refused before any work', async () => {
    const target = `${t.dbName}_r`.slice(0, 63);
    const result = await backups().restore(first, { toDb: target, collections: ['widgets'] });
    expect(result.safetyBackupId).toBeNull();
    const copy = t.container.database.connection.getClient().db(target).collection('widgets');
    expect(await copy.find().sort({ _id: 1 }).toArray()).toEqual(await widgets().find().sort({ _id: 1 }).toArray());
    await t.container.database.connection.getClient().db(target).dropDatabase();

    const refused = await backups()
      .restore(first, {})
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ status: 400, code: 'restore-confirmation-required' });
    await expect(backups().restore(first, { overwrite: true, confirm: 'another-id' })).rejects.toMatchObject({
      code: 'restore-confirmation-required',
    });
  });

  it('when restored over the live database with confirmation, then a safety backup is taken first and changed data comes back', async () => {
    await widgets().updateOne({ _id: 3 as never }, { $set: { name: 'changed' } });
    const before = (await backups().list()).length;
    const result = await backups().restore(first, { overwrite: true, confirm: first, collections: ['widgets'] });
    expect(result.safetyBackupId).toMatch(/-safety-/);
    expect((await backups().list()).length).toBe(before + 1);
    expect(await widgets().findOne({ _id: 3 as never })).toMatchObject({ name: 'w3' });
  });

  it('when only S3 has the backup, then verify downloads it and passes; a corrupted byte fails verification with a critical alert', async () => {
    await fs.rm(path.join(dir, first), { recursive: true });
    expect(await backups().get(first)).toMatchObject({ locations: ['s3'] });
    expect(await backups().verify(first)).toMatchObject({ ok: true });
    expect(await backups().get(first)).toMatchObject({ locations: ['local', 's3'] });

    const manifest = JSON.parse(await fs.readFile(path.join(dir, first, 'manifest.json'), 'utf8'));
    const file = path.join(dir, first, manifest.collections[0].bson.path);
    const bytes = await fs.readFile(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await fs.writeFile(file, bytes);
    const record = await backups().verify(first);
    expect(record.ok).toBe(false);
    expect(alerts.raised).toContainEqual(
      expect.objectContaining({
        source: 'backup',
        kind: 'backup.verification-failed',
        subject: first,
        severity: 'critical',
      }),
    );
    await expect(backups().restore(first, { toDb: `${t.dbName}_x`.slice(0, 63) })).rejects.toThrow();
  });

  it('when time passes without backups, then freshness warns after 26 h and fails after 50 h, and missed schedules raise critical alerts', async () => {
    // the first backup failed its last verification: a manual verified one is now the reference
    expect(await backups().lastVerifiedBackupAt()).toBeNull();
    expect((await backups().freshness()).status).toBe('fail');
    const manual = await backups().create('manual', { verify: true });
    const last = (await backups().lastVerifiedBackupAt())!;
    expect(last).toEqual(new Date(manual.finishedAt));
    expect((await backups().freshness()).status).toBe('pass');
    const ago = (h: number) => last.getTime() + h * HOUR - clock.now().getTime();
    clock.advance(ago(BACKUP_FRESHNESS.warnAfterHours + 1));
    expect((await backups().freshness()).status).toBe('warn');
    // the last daily backup is the first one, older than a day plus the grace; no weekly was due yet
    expect(await backups().checkMissed()).toEqual(['daily']);
    expect(alerts.raised).toContainEqual(
      expect.objectContaining({ kind: 'backup.missed', subject: 'daily', severity: 'critical' }),
    );
    clock.advance(BACKUP_FRESHNESS.failAfterHours * HOUR);
    expect((await backups().freshness()).status).toBe('fail');
  });

  it('when a scheduled backup runs 31 days later, then pruning deletes expired backups locally and in S3 only because a newer verified one exists', async () => {
    clock.advance(31 * DAY);
    const fresh = await backups().runScheduled('daily');
    const ids = (await backups().list()).map((b) => b.id);
    expect(ids).toEqual([fresh.id]);
    expect(alerts.resolved).toContainEqual(expect.objectContaining({ kind: 'backup.missed', subject: 'daily' }));
    const pruned = await t.container.models.AuditEvent.findOne({ action: 'backup.pruned' }).sort({ _id: -1 }).lean();
    expect((pruned!.details as { s3Deleted: string[] }).s3Deleted).toContain(first);
  });

  it('when another process holds the backup lease, then a second backup is refused with 409 instead of running twice', async () => {
    const other = new LeaseManager({ leases: t.container.models.JobLease, now: clock.now });
    const lease = await other.acquire('backup', 'other-host', 60_000);
    expect(lease).not.toBeNull();
    await expect(backups().create('manual')).rejects.toMatchObject({ status: 409, code: 'backup-busy' });
    await other.release(lease!);
  });

  it('when S3 is down during a scheduled backup, then it fails with a critical alert and the local copy is kept, listed as local only', async () => {
    await peer.stop();
    await expect(backups().runScheduled('weekly')).rejects.toThrow();
    expect(alerts.raised).toContainEqual(
      expect.objectContaining({ source: 'backup', kind: 'backup.failed', subject: 'weekly', severity: 'critical' }),
    );
    const local = (await fs.readdir(dir)).filter((n) => n.includes('-weekly-'));
    expect(local).toHaveLength(1);
  });
});
