import { promises as fs } from 'node:fs';
import { buildTestApp, TestClock, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { RecordingAlerts } from '../support/recording-alerts';

describe('scheduled backups through the Scheduler and the cluster lease', () => {
  const clock = new TestClock();
  const dir = tempDir('backup-schedule');
  const workers: TestApp[] = [];

  afterAll(async () => {
    for (const w of workers.reverse()) await w.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('when backups are disabled by config, then no backup job is scheduled', async () => {
    const t = await buildTestApp(__filename, { BACKUP_ENABLED: 'false', BACKUP_DIR: dir });
    workers.push(t);
    expect(t.container.scheduler.describe().filter((j) => j.name.startsWith('backup'))).toEqual([]);
  });

  it('when enabled, then daily and weekly jobs use the configured cron and timezone and are cluster-wide', async () => {
    const t = await buildTestApp(__filename, {
      BACKUP_DIR: dir,
      BACKUP_DAILY_CRON: '30 1 * * *',
      BACKUP_TIMEZONE: 'Europe/Berlin',
    });
    workers.push(t);
    expect(t.container.scheduler.describe()).toEqual(
      expect.arrayContaining([
        { name: 'backup-daily', schedule: '30 1 * * *', timezone: 'Europe/Berlin', clusterWide: true },
        { name: 'backup-weekly', schedule: '0 3 * * 0', timezone: 'Europe/Berlin', clusterWide: true },
        expect.objectContaining({ name: 'backup-missed-check', clusterWide: true }),
      ]),
    );
  });

  it('when two workers (two containers on one database) fire the same daily tick, then exactly one verified backup is made', async () => {
    const alerts = new RecordingAlerts();
    const env = { BACKUP_DIR: dir, BACKUP_VERIFY_AFTER: 'true' };
    const w1 = await buildTestApp(__filename, env, { now: clock.now, backupAlerts: alerts });
    workers.push(w1);
    // the second worker shares the first one's database and Redis prefix, as PM2 workers do
    const w2 = await buildTestApp(
      __filename,
      { ...env, MONGODB_URI: w1.config.mongodb.uri.reveal(), REDIS_KEY_PREFIX: w1.redisPrefix },
      { now: clock.now, backupAlerts: alerts },
    );
    workers.push(w2);
    await w1.container.database
      .db()
      .collection('widgets')
      .insertMany([{ n: 1 }, { n: 2 }]);
    const tick = new Date('2026-12-01T01:00:00Z');
    const outcomes = await Promise.all([
      w1.container.scheduler.fire('backup-daily', tick),
      w2.container.scheduler.fire('backup-daily', tick),
    ]);
    expect(outcomes.sort()).toEqual(['ran', 'skipped-elsewhere']);
    const list = await w2.container.backups.list();
    expect(list.filter((b) => b.kind === 'daily')).toHaveLength(1);
    expect(list[0]).toMatchObject({ kind: 'daily', verification: { ok: true } });
    expect(alerts.raised).toEqual([]);
  });
});
