import os from 'node:os';
import type { HealthThresholds, Limits } from '../../config';
import type { Logger } from '../../lib/logger';
import { withTimeout } from '../../lib/database';
import type { HealthSampleModel } from '../../models/health-sample.model';
import type { AlertRaiser } from '../alerts/alert-raiser';
import { HealthRing, summarise, type HealthSample, type HistorySeries } from './history';
import type { AppMetrics } from './metrics';
import { recommend, type Recommendation } from './recommendations';
import { ThresholdAlerts } from './threshold-alerts';
import { errorText, keyOf, worst, type HealthCheck, type HealthStatus, type Measurement } from './types';

export type { HealthStatus } from './types';

/** One entry of `checks` in the IETF "Health Check Response Format for HTTP APIs" draft. */
export interface HealthCheckResult {
  componentId?: string;
  componentType: string;
  observedValue?: number | string;
  observedUnit?: string;
  status: HealthStatus;
  time: string;
  output?: string;
  /** Admin view only: internals such as versions, hosts and pool numbers. */
  details?: Record<string, unknown>;
  /** Admin view only: the warn/fail limits the observed value is graded against. */
  limits?: Limits;
}

/** The admin view of /health. */
export interface HealthReport {
  status: HealthStatus;
  version: string;
  releaseId: string;
  serviceId: string;
  description: string;
  /** Which process answered (hostname:pid). */
  instance: string;
  checks: Record<string, HealthCheckResult[]>;
  notes: string[];
  recommendations: Recommendation[];
}

/** What anonymous callers (and load balancers) get: the overall status and each check's status, nothing more. */
export interface PublicHealthReport {
  status: HealthStatus;
  checks: Record<string, Array<{ status: HealthStatus }>>;
}

/** The critical dependencies readiness may probe afresh. */
export interface ReadinessProbe {
  /** Measurement key it answers for, e.g. `mongodb:responseTime`. */
  key: string;
  probe(timeoutMs: number): Promise<Measurement>;
}

export interface HealthCheckDeps {
  checks: HealthCheck[];
  /** Critical dependencies: they alone decide readiness. */
  readiness: ReadinessProbe[];
  /** Warn/fail limits per check key (`component:measurement`), reported beside the values. */
  limits?: Record<string, Limits>;
  timeoutMs: number;
  sampleIntervalMs: number;
  readyPingMinIntervalMs: number;
  thresholds: HealthThresholds;
  version: string;
  logger: Logger;
  /** Flap damping: a new status must hold this many samples before it alerts or resolves. */
  alertAfterSamples: number;
  alerts?: AlertRaiser;
  metrics?: AppMetrics;
  samples?: HealthSampleModel;
  snapshotIntervalMs: number;
  historyRetentionDays: number;
  now?: () => Date;
}

interface Sampled {
  at: Date;
  measurements: Measurement[];
  recommendations: Recommendation[];
}

const HISTORY_MS = 24 * 3_600_000;

/**
 * Health by sampling: every check runs on a schedule under its own timeout, and the
 * endpoints serve the latest sample, so polling costs no I/O. Readiness may refresh the
 * critical pings at most once per readyPingMinIntervalMs. Each sample feeds the 24 h ring,
 * the MongoDB snapshots, the threshold alerts, the recommendations and the metrics.
 */
export class HealthCheckService {
  private readonly now: () => Date;
  private readonly ring: HealthRing;
  private readonly thresholdAlerts: ThresholdAlerts;
  private readonly instance = `${os.hostname()}:${process.pid}`;
  private latest: Sampled | undefined;
  private running: Promise<Sampled> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastSnapshotAt = 0;
  private readyProbe: { at: number; results: Measurement[]; pending?: Promise<Measurement[]> } | undefined;

  constructor(private readonly deps: HealthCheckDeps) {
    this.now = deps.now ?? (() => new Date());
    this.ring = new HealthRing(HISTORY_MS, Math.ceil(HISTORY_MS / deps.sampleIntervalMs) + 10);
    this.thresholdAlerts = new ThresholdAlerts({
      alerts: deps.alerts,
      holdSamples: deps.alertAfterSamples,
      timeoutMs: deps.timeoutMs,
      logger: deps.logger.child({ component: 'health' }),
    });
  }

  /** Takes a first sample, then one every sampleIntervalMs (a tick is skipped while one still runs). */
  async start(): Promise<void> {
    await this.sampleNow();
    this.timer = setInterval(() => {
      if (!this.running)
        this.sampleNow().catch((err: unknown) => this.deps.logger.error({ err }, 'health sample failed'));
    }, this.deps.sampleIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    for (const c of this.deps.checks) c.close?.();
  }

  /** Runs every check now (joining a sample already under way) and returns its measurements. */
  sampleNow(): Promise<Measurement[]> {
    this.running ??= this.sample().finally(() => (this.running = undefined));
    return this.running.then((s) => s.measurements);
  }

  private async sample(): Promise<Sampled> {
    const at = this.now();
    const results = await Promise.all(this.deps.checks.map((c) => this.runCheck(c)));
    const measurements = results.flat();
    const record: HealthSample = {
      at,
      status: worst(measurements.map((m) => m.status)),
      values: Object.fromEntries(
        measurements.map((m) => [
          keyOf(m),
          {
            value: typeof m.observedValue === 'number' ? m.observedValue : undefined,
            unit: m.observedUnit,
            status: m.status,
          },
        ]),
      ),
    };
    this.ring.push(record);
    const recommendations = recommend({
      latest: new Map(measurements.map((m) => [keyOf(m), m])),
      recent: this.ring.since(new Date(at.getTime() - 10 * 60_000)),
      thresholds: this.deps.thresholds,
      now: at,
    });
    const sampled: Sampled = { at, measurements, recommendations };
    this.latest = sampled;
    this.deps.metrics?.recordChecks(measurements);
    await this.thresholdAlerts.observe(measurements, recommendations);
    await this.snapshot(record);
    return sampled;
  }

  private async runCheck(check: HealthCheck): Promise<Measurement[]> {
    try {
      const run = check.run(this.deps.timeoutMs);
      return await (check.selfTimed ? run : withTimeout(run, this.deps.timeoutMs, `${check.component} check`));
    } catch (err) {
      return [
        {
          component: check.component,
          measurement: check.primaryMeasurement,
          componentType: check.componentType,
          status: check.onError,
          output: errorText(err),
        },
      ];
    }
  }

  private async snapshot(record: HealthSample): Promise<void> {
    const model = this.deps.samples;
    if (!model || record.at.getTime() - this.lastSnapshotAt < this.deps.snapshotIntervalMs) return;
    // While MongoDB is away mongoose would buffer the insert; the sample must not wait for it.
    if (model.db.readyState !== 1) return;
    try {
      await withTimeout(
        model.create({
          at: record.at,
          instance: this.instance,
          status: record.status,
          checks: Object.entries(record.values).map(([key, v]) => ({ key, ...v })),
        }),
        this.deps.timeoutMs,
        'health snapshot',
      );
      this.lastSnapshotAt = record.at.getTime();
    } catch (err) {
      // MongoDB itself may be what is failing; the ring still has the sample.
      this.deps.logger.warn({ err: { message: errorText(err) } }, 'health snapshot not stored');
    }
  }

  /**
   * Readiness: the critical dependencies only, probed afresh at most once per
   * readyPingMinIntervalMs (concurrent callers share one probe); otherwise the last answer.
   */
  async readiness(): Promise<PublicHealthReport> {
    const measurements = await this.freshCritical();
    return publicView(measurements);
  }

  private async freshCritical(): Promise<Measurement[]> {
    const nowMs = this.now().getTime();
    const last = this.readyProbe;
    if (last?.pending) return last.pending;
    if (last && nowMs - last.at < this.deps.readyPingMinIntervalMs) return last.results;
    const pending = Promise.all(
      this.deps.readiness.map(async (r): Promise<Measurement> => {
        try {
          return await r.probe(this.deps.timeoutMs);
        } catch (err) {
          const [component, measurement] = r.key.split(':');
          return { component, measurement, componentType: 'datastore', status: 'fail', output: errorText(err) };
        }
      }),
    );
    this.readyProbe = { at: nowMs, results: last?.results ?? [], pending };
    const results = await pending;
    this.readyProbe = { at: nowMs, results };
    return results;
  }

  /** The latest sample's measurements, with a fresher readiness probe of the same check taking its place. */
  private current(): { at: Date; measurements: Measurement[]; recommendations: Recommendation[] } {
    const sampled = this.latest ?? { at: this.now(), measurements: [], recommendations: [] };
    const probe = this.readyProbe;
    if (!probe || probe.at <= sampled.at.getTime()) return sampled;
    const fresher = new Map(probe.results.map((m) => [keyOf(m), m]));
    return { ...sampled, measurements: sampled.measurements.map((m) => fresher.get(keyOf(m)) ?? m) };
  }

  publicReport(): PublicHealthReport {
    return publicView(this.current().measurements);
  }

  report(): HealthReport {
    const { at, measurements, recommendations } = this.current();
    const time = at.toISOString();
    const checks: Record<string, HealthCheckResult[]> = {};
    for (const m of measurements) {
      (checks[keyOf(m)] ??= []).push({
        componentId: m.component,
        componentType: m.componentType,
        observedValue: m.observedValue,
        observedUnit: m.observedUnit,
        status: m.status,
        time,
        output: m.output,
        details: m.details,
        limits: this.deps.limits?.[keyOf(m)],
      });
    }
    return {
      status: worst(measurements.map((m) => m.status)),
      version: this.deps.version.split('.')[0] ?? '0',
      releaseId: this.deps.version,
      serviceId: 'erp-backend',
      description: 'ERP security and operations core',
      instance: this.instance,
      checks,
      notes: this.latest ? [] : ['no sample taken yet'],
      recommendations,
    };
  }

  /** min/avg/p95/max per interval from the in-memory ring when it reaches back far enough, else from MongoDB. */
  async history(
    component: string,
    sinceOrDefault: Date | undefined,
    intervalMs: number,
  ): Promise<{ since: string; source: 'memory' | 'database'; series: HistorySeries[] }> {
    // Default: the last hour.
    const since = sinceOrDefault ?? new Date(this.now().getTime() - 3_600_000);
    const oldest = this.ring.oldest();
    if ((oldest && oldest.getTime() <= since.getTime()) || !this.deps.samples)
      return {
        since: since.toISOString(),
        source: 'memory',
        series: summarise(this.ring.since(since), component, since, intervalMs),
      };
    const docs = await this.deps.samples
      .find({ at: { $gte: since } })
      .sort({ at: 1 })
      .limit(50_000)
      .lean();
    const samples: HealthSample[] = docs.map((d) => ({
      at: d.at,
      status: d.status,
      values: Object.fromEntries(d.checks.map((c) => [c.key, { value: c.value, unit: c.unit, status: c.status }])),
    }));
    return { since: since.toISOString(), source: 'database', series: summarise(samples, component, since, intervalMs) };
  }

  /** Retention job: deletes stored samples older than historyRetentionDays. */
  async purgeExpired(): Promise<number> {
    if (!this.deps.samples) return 0;
    const cutoff = new Date(this.now().getTime() - this.deps.historyRetentionDays * 86_400_000);
    const { deletedCount } = await this.deps.samples.deleteMany({ at: { $lt: cutoff } });
    return deletedCount;
  }
}

function publicView(measurements: Measurement[]): PublicHealthReport {
  const checks: PublicHealthReport['checks'] = {};
  for (const m of measurements) (checks[keyOf(m)] ??= []).push({ status: m.status });
  return { status: worst(measurements.map((m) => m.status)), checks };
}
