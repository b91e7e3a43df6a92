import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config } from '../../config';
import type { Database } from '../../lib/database';
import type { Logger } from '../../lib/logger';
import type { LeaseManager } from '../../jobs/lease';
import type { JobDefinition } from '../../jobs/scheduler';
import type { Models } from '../../models';
import type { AuditTrail } from '../audit/audit-trail';
import type { AlertRaiser } from '../alerts/alert-raiser';
import type { EncryptionService } from '../encryption/encryption.service';
import { VERSION } from '../../lib/version';
import { BackupEngine } from './backup-engine';
import { BackupJobs } from './backup-jobs';
import { BackupRestoreService } from './backup-restore.service';
import { S3Storage } from './s3-storage';

/** This process's name in lease documents: host, pid and a random suffix (pids repeat across containers). */
export function processHolderId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** The database a MongoDB URI names (the driver's default `test` when none), read before connecting. */
export function databaseNameOf(uri: string): string {
  const rest = uri.replace(/^mongodb(\+srv)?:\/\/[^/?]*\/?/, '');
  return decodeURIComponent(rest.split('?')[0] ?? '') || 'test';
}

/** Builds BackupRestoreService and its scheduled jobs from config (called by src/container.ts). */
export function createBackupRestore(deps: {
  config: Config;
  database: Database;
  models: Models;
  encryption: EncryptionService;
  audit: AuditTrail;
  alerts: AlertRaiser;
  leases: LeaseManager;
  logger: Logger;
  holderId: string;
  /** Told of every backup's outcome (the metrics). */
  onFinished?: (result: 'success' | 'failure', at: Date) => void;
  now?: () => Date;
}): { backups: BackupRestoreService; jobs: JobDefinition[] } {
  const { config, logger } = deps;
  const c = config.backups;
  const databaseName = databaseNameOf(config.mongodb.uri.reveal());
  const engine = new BackupEngine({
    db: (name) => deps.database.connection.getClient().db(name),
    databases: [databaseName],
    encryption: deps.encryption,
    encryptAtRest: c.encrypt,
    appVersion: VERSION,
    logger,
    now: deps.now,
    // A reliability-test hook, not an operator setting (so not in the config schema); never honoured in production.
    pauseDir: deps.config.env === 'production' ? undefined : process.env.BACKUP_RESTORE_TEST_PAUSE_DIR,
  });
  const s3 = c.s3
    ? new S3Storage({
        config: {
          ...c.s3,
          credentials: c.s3.credentials && {
            accessKeyId: c.s3.credentials.accessKeyId,
            secretAccessKey: c.s3.credentials.secretAccessKey.reveal(),
          },
        },
        logger,
        now: deps.now,
      })
    : undefined;
  const backups = new BackupRestoreService({
    engine,
    jobs: new BackupJobs({ jobs: deps.models.BackupJob, logger, now: deps.now }),
    leases: deps.leases,
    audit: deps.audit,
    alerts: deps.alerts,
    s3,
    logger,
    config: c,
    databaseName,
    holderId: deps.holderId,
    onFinished: deps.onFinished,
    now: deps.now,
  });
  const jobs: JobDefinition[] = c.enabled
    ? [
        {
          name: 'backup-daily',
          schedule: c.dailyCron,
          timezone: c.timezone,
          clusterWide: true,
          run: () => backups.runScheduled('daily'),
        },
        {
          name: 'backup-weekly',
          schedule: c.weeklyCron,
          timezone: c.timezone,
          clusterWide: true,
          run: () => backups.runScheduled('weekly'),
        },
        { name: 'backup-missed-check', schedule: '23 * * * *', clusterWide: true, run: () => backups.checkMissed() },
      ]
    : [];
  return { backups, jobs };
}
