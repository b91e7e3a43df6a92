import type { Database } from '../../lib/database';
import { withTimeout } from '../../lib/database';
import type { RedisClient } from '../../lib/redis';

export type HealthStatus = 'pass' | 'warn' | 'fail';

/** One entry of `checks` in the IETF "Health Check Response Format for HTTP APIs" draft. */
export interface HealthCheckResult {
  componentId?: string;
  componentType: string;
  observedValue?: number | string;
  observedUnit?: string;
  status: HealthStatus;
  time: string;
  output?: string;
}

export interface HealthReport {
  status: HealthStatus;
  version: string;
  releaseId: string;
  serviceId: string;
  description: string;
  checks: Record<string, HealthCheckResult[]>;
}

export interface HealthCheckDeps {
  database: Database;
  redis: RedisClient;
  timeoutMs: number;
  version: string;
  now?: () => Date;
  /** Process start, for the uptime check. */
  startedAt?: Date;
}

const worst = (statuses: HealthStatus[]): HealthStatus =>
  statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'pass';

/**
 * Liveness, readiness and the detailed health report. Every probe is bounded by a
 * timeout so a hung dependency makes the check fail, not hang.
 */
export class HealthCheckService {
  private readonly now: () => Date;
  private readonly startedAt: Date;

  constructor(private readonly deps: HealthCheckDeps) {
    this.now = deps.now ?? (() => new Date());
    this.startedAt = deps.startedAt ?? this.now();
  }

  async checkMongo(): Promise<HealthCheckResult> {
    const time = this.now().toISOString();
    try {
      const ms = await this.deps.database.ping(this.deps.timeoutMs);
      return {
        componentId: 'mongodb',
        componentType: 'datastore',
        observedValue: round(ms),
        observedUnit: 'ms',
        status: 'pass',
        time,
      };
    } catch (err) {
      return { componentId: 'mongodb', componentType: 'datastore', status: 'fail', time, output: errorText(err) };
    }
  }

  async checkRedis(): Promise<HealthCheckResult> {
    const time = this.now().toISOString();
    const started = performance.now();
    try {
      const pong = await withTimeout(this.deps.redis.ping(), this.deps.timeoutMs, 'redis ping');
      if (pong !== 'PONG') throw new Error('unexpected reply to PING');
      return {
        componentId: 'redis',
        componentType: 'datastore',
        observedValue: round(performance.now() - started),
        observedUnit: 'ms',
        status: 'pass',
        time,
      };
    } catch (err) {
      return { componentId: 'redis', componentType: 'datastore', status: 'fail', time, output: errorText(err) };
    }
  }

  /** Readiness: can this process serve traffic now? */
  async readiness(): Promise<{ status: HealthStatus; checks: Record<string, HealthCheckResult[]> }> {
    const [mongo, redis] = await Promise.all([this.checkMongo(), this.checkRedis()]);
    const checks = { 'mongodb:responseTime': [mongo], 'redis:responseTime': [redis] };
    return { status: worst([mongo.status, redis.status]), checks };
  }

  async report(): Promise<HealthReport> {
    const ready = await this.readiness();
    const uptime: HealthCheckResult = {
      componentType: 'system',
      observedValue: Math.round((this.now().getTime() - this.startedAt.getTime()) / 1000),
      observedUnit: 's',
      status: 'pass',
      time: this.now().toISOString(),
    };
    return {
      status: ready.status,
      version: this.deps.version.split('.')[0] ?? '0',
      releaseId: this.deps.version,
      serviceId: 'erp-backend',
      description: 'ERP security and operations core',
      checks: { ...ready.checks, uptime: [uptime] },
    };
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
