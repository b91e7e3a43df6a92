import type { Request } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AlertSeverity } from '../alerts/alert-raiser';
import { keyOf, type HealthStatus, type Measurement } from './types';

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const STATUS_VALUE: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 };

/**
 * The Prometheus metrics of one app instance, in its own Registry (never prom-client's
 * global one, so several apps in one process do not collide). Other capabilities report
 * through its methods: rate limiting, alerts and backups.
 */
export class AppMetrics {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly checkStatus: Gauge<'check'>;
  private readonly checkValue: Gauge<'check' | 'unit'>;
  private readonly rateLimited: Counter<'tier'>;
  private readonly alerts: Counter<'severity'>;
  private readonly backups: Counter<'result'>;
  private readonly lastBackup: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters fail `promtool check metrics`; their unsuffixed siblings
    // (nodejs_active_handles, nodejs_active_requests, nodejs_active_resources) carry the same totals by type.
    for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.checkStatus = new Gauge({
      name: 'erp_health_check_status',
      help: 'Latest status of each health check: 0 pass, 1 warn, 2 fail.',
      labelNames: ['check'],
      registers: [this.registry],
    });
    this.checkValue = new Gauge({
      name: 'erp_health_check_observed_value',
      help: 'Latest numeric observation of each health check, in the unit of its label.',
      labelNames: ['check', 'unit'],
      registers: [this.registry],
    });
    this.rateLimited = new Counter({
      name: 'erp_rate_limit_rejections_total',
      help: 'Requests refused with 429 by the rate limiter, by tier.',
      labelNames: ['tier'],
      registers: [this.registry],
    });
    this.alerts = new Counter({
      name: 'erp_alerts_raised_total',
      help: 'Alerts raised, by severity.',
      labelNames: ['severity'],
      registers: [this.registry],
    });
    this.backups = new Counter({
      name: 'erp_backups_total',
      help: 'Backups finished, by result (success, failure).',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.lastBackup = new Gauge({
      name: 'erp_backup_last_success_timestamp_seconds',
      help: 'Unix time of the last successful backup.',
      registers: [this.registry],
    });
  }

  /**
   * One answered request, labelled with the Express route pattern (e.g. `/api/v1/invoices/:id`,
   * routeLabel), never the raw URL, so ids and query strings cannot blow up the label set.
   * The access log's 'finish' listener (src/middleware/http-logger.ts) reports every routed
   * request here; the liveness fast path reports its own.
   */
  observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status_code: String(statusCode) }, seconds);
  }

  recordChecks(measurements: Measurement[]): void {
    for (const m of measurements) {
      this.checkStatus.set({ check: keyOf(m) }, STATUS_VALUE[m.status]);
      if (typeof m.observedValue === 'number')
        this.checkValue.set({ check: keyOf(m), unit: m.observedUnit ?? '' }, m.observedValue);
    }
  }

  rateLimitRejected(tier: string): void {
    this.rateLimited.inc({ tier });
  }

  alertRaised(severity: AlertSeverity): void {
    this.alerts.inc({ severity });
  }

  backupFinished(result: 'success' | 'failure', at: Date): void {
    this.backups.inc({ result });
    if (result === 'success') this.lastBackup.set(at.getTime() / 1000);
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The matched route as a pattern. When a handler failed, Express has already restored
 * req.baseUrl by the time the response finishes, so the mount prefix is then taken from the
 * URL: every router is mounted at a literal path (no parameters), and the route pattern
 * accounts for the remaining segments. Requests no route matched are `unmatched`.
 */
export function routeLabel(req: Request): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof pattern !== 'string') return 'unmatched';
  const trim = (p: string): string => (p.length > 1 ? p.replace(/\/$/, '') : p);
  if (req.baseUrl) return trim(req.baseUrl + pattern);
  if (/[*?()]/.test(pattern)) return trim(pattern);
  const urlSegments = (req.originalUrl.split('?')[0] ?? '').split('/').filter(Boolean);
  const patternSegments = pattern.split('/').filter(Boolean);
  const prefix = urlSegments.slice(0, Math.max(0, urlSegments.length - patternSegments.length));
  return trim('/' + [...prefix, ...patternSegments].join('/'));
}
