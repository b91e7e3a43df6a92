import { promises as fs } from 'node:fs';
import { buildTestApp, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { RecordingAlerts } from '../support/recording-alerts';
import { startVersitygw, VERSITYGW_ACCESS_KEY, VERSITYGW_SECRET_KEY, type VersityPeer } from '../support/versitygw';
import { recordFigures } from './support/report';

/**
 * S3 (this test's own versitygw) unreachable during the nightly backup: the local backup
 * completes and is listed, the failure is alerted, and the next run uploads it once S3 is
 * back; retention never removes a local copy S3 lacks.
 */
describe('S3 unreachable during a backup', () => {
  const dir = tempDir('erp-rel-backup-s3');
  const alerts = new RecordingAlerts();
  let peer: VersityPeer;
  let t: TestApp;

  beforeAll(async () => {
    peer = await startVersitygw();
    await peer.createBucket('nightly');
    t = await buildTestApp(
      __filename,
      {
        BACKUP_ENABLED: 'false',
        BACKUP_DIR: dir,
        LOG_LEVEL: 'warn',
        BACKUP_S3_BUCKET: 'nightly',
        BACKUP_S3_ENDPOINT: peer.endpoint,
        BACKUP_S3_FORCE_PATH_STYLE: 'true',
        BACKUP_S3_ACCESS_KEY_ID: VERSITYGW_ACCESS_KEY,
        BACKUP_S3_SECRET_ACCESS_KEY: VERSITYGW_SECRET_KEY,
      },
      { backupAlerts: alerts },
    );
    await t.container.database
      .db()
      .collection('ledger')
      .insertMany(Array.from({ length: 500 }, (_, n) => ({ n })));
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await peer?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('when S3 is down during a backup, then the local backup completes, an alert is raised, and the next run uploads it once S3 is back', async () => {
    const backups = t.container.deps.operations.backups;
    const { port, dataDir } = peer;
    await peer.stop({ keepData: true });

    await expect(backups.create('daily')).rejects.toThrow();
    const [local] = await backups.list();
    expect(local).toMatchObject({ kind: 'daily', locations: ['local'] });
    expect(alerts.raised).toEqual([
      expect.objectContaining({ source: 'backup', kind: 'backup.failed', subject: 'daily' }),
    ]);
    // Retention without S3's catalog deletes nothing: it refuses, and the local copy stays.
    await expect(backups.prune()).rejects.toThrow();
    expect((await backups.list()).map((b) => b.id)).toEqual([local.id]);

    peer = await startVersitygw({ port, dataDir });
    const next = await backups.create('daily');
    const listed = await backups.list();
    expect(listed.map((b) => [b.id, b.locations.sort()])).toEqual(
      expect.arrayContaining([
        [local.id, ['local', 's3']],
        [next.id, ['local', 's3']],
      ]),
    );
    expect(alerts.resolved).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'backup.failed', subject: 'daily' })]),
    );
    recordFigures('backup-s3-down', { failedRunBackup: local.id, uploadedByNextRun: next.id });
  }, 300_000);
});
