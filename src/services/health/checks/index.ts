import type { Config, Limits } from '../../../config';
import type { Database } from '../../../lib/database';
import type { RedisClient } from '../../../lib/redis';
import type { AuditEventModel } from '../../../models/audit-event.model';
import type { HealthCheck } from '../types';
import type { ReadinessProbe } from '../health-check.service';
import { BackupCheck } from './backup.check';
import { CollectionsCheck } from './collections.check';
import { EndpointCheck } from './endpoint.check';
import { MongoCheck } from './mongodb.check';
import { RedisCheck } from './redis.check';
import { SecurityCheck } from './security.check';
import { SystemCheck } from './system.check';

export interface StandardChecksDeps {
  config: Config;
  database: Database;
  redis: RedisClient;
  auditEvents: AuditEventModel;
  /** When the last verified backup was taken (BackupRestoreService); no backup check without it. */
  lastVerifiedBackupAt?: () => Promise<Date | null>;
  /** Where backups are written: the disk check measures its file system. */
  backupDir?: string;
  now: () => Date;
}

/** Every check the configuration asks for, and the critical ones readiness probes. */
export function standardChecks(deps: StandardChecksDeps): {
  checks: HealthCheck[];
  readiness: ReadinessProbe[];
  limits: Record<string, Limits>;
} {
  const { config } = deps;
  const t = config.health.thresholds;
  const mongo = new MongoCheck({
    database: deps.database,
    latencyMs: t.dbLatencyMs,
    maxPoolSize: config.mongodb.maxPoolSize,
  });
  const redis = new RedisCheck({ redis: deps.redis, latencyMs: t.redisLatencyMs, memoryPercent: t.memoryPercent });
  const checks: HealthCheck[] = [
    mongo,
    new CollectionsCheck({ database: deps.database }),
    redis,
    new SystemCheck({
      limits: {
        cpuLoadPerCore: t.cpuLoadPerCore,
        memoryPercent: t.memoryPercent,
        eventLoopDelayMs: t.eventLoopDelayMs,
        diskPercent: t.diskPercent,
      },
      diskPath: deps.backupDir ?? config.health.diskPath ?? process.cwd(),
    }),
    new SecurityCheck({
      events: deps.auditEvents,
      windowMinutes: config.health.failedLoginWindowMinutes,
      limits: t.failedLogins,
      now: deps.now,
    }),
    ...config.health.endpoints.map((e) => new EndpointCheck(e)),
  ];
  if (deps.lastVerifiedBackupAt)
    checks.push(
      new BackupCheck({ lastVerifiedBackupAt: deps.lastVerifiedBackupAt, ageHours: t.backupAgeHours, now: deps.now }),
    );
  return {
    checks,
    // The warn/fail limits each graded number is held against, shown beside the value in the admin report.
    limits: {
      'mongodb:responseTime': t.dbLatencyMs,
      'redis:responseTime': t.redisLatencyMs,
      'system:cpuLoad': t.cpuLoadPerCore,
      'system:memory': t.memoryPercent,
      'system:disk': t.diskPercent,
      'process:heap': t.memoryPercent,
      'process:eventLoopDelay': t.eventLoopDelayMs,
      'security:failedLogins': t.failedLogins,
      'backups:age': t.backupAgeHours,
    },
    readiness: [
      { key: 'mongodb:responseTime', probe: (ms) => mongo.ping(ms) },
      { key: 'redis:responseTime', probe: (ms) => redis.ping(ms) },
    ],
  };
}
