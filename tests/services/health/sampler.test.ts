import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/lib/logger';
import { HealthCheckService } from '../../../src/services/health/health-check.service';
import type { HealthCheck, Measurement } from '../../../src/services/health/types';
import { waitFor } from '../../support/wait';

const thresholds = loadConfig({ NODE_ENV: 'test' }).health.thresholds;

/** A check whose behaviour the test sets: answer, hang, or throw. */
class ScriptedCheck implements HealthCheck {
  readonly primaryMeasurement = 'value';
  readonly componentType = 'component' as const;
  runs = 0;
  closed = false;
  mode: 'answer' | 'hang' | 'throw' = 'answer';
  constructor(
    readonly component: string,
    readonly onError: 'warn' | 'fail',
  ) {}
  run(): Promise<Measurement[]> {
    this.runs++;
    if (this.mode === 'hang') return new Promise(() => undefined);
    if (this.mode === 'throw') return Promise.reject(new Error('boom'));
    return Promise.resolve([
      { component: this.component, measurement: 'value', componentType: 'component', observedValue: 1, status: 'pass' },
    ]);
  }
  close(): void {
    this.closed = true;
  }
}

const service = (checks: HealthCheck[], sampleIntervalMs = 3_600_000) =>
  new HealthCheckService({
    checks,
    readiness: [],
    timeoutMs: 200,
    sampleIntervalMs,
    readyPingMinIntervalMs: 1000,
    thresholds,
    version: '1.2.3',
    logger: createLogger({ level: 'silent' }),
    alertAfterSamples: 1,
    snapshotIntervalMs: 60_000,
    historyRetentionDays: 7,
  });

describe('health sampler', () => {
  it('when started, then it samples at once and on every interval; once stopped, never again and its checks are closed', async () => {
    const check = new ScriptedCheck('dep', 'fail');
    const health = service([check], 50);
    await health.start();
    expect(check.runs).toBe(1);
    await waitFor(() => check.runs >= 4, 10_000, 'three scheduled samples');
    await health.stop();
    const after = check.runs;
    expect(check.closed).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(check.runs).toBe(after);
  });

  it('when a check hangs or throws, then its main measurement is reported with the check’s error status and why', async () => {
    const dep = new ScriptedCheck('dep', 'fail');
    const reader = new ScriptedCheck('reader', 'warn');
    const health = service([dep, reader]);
    dep.mode = 'hang';
    reader.mode = 'throw';
    const started = performance.now();
    await health.sampleNow();
    expect(performance.now() - started).toBeLessThan(2_000);
    const report = health.report();
    expect(report.checks['dep:value'][0]).toMatchObject({ status: 'fail', output: 'dep check timed out after 200 ms' });
    expect(report.checks['reader:value'][0]).toMatchObject({ status: 'warn', output: 'boom' });
    expect(report.status).toBe('fail');
    expect(health.publicReport()).toEqual({
      status: 'fail',
      checks: { 'dep:value': [{ status: 'fail' }], 'reader:value': [{ status: 'warn' }] },
    });
    await health.stop();
  });

  it('when samples are requested concurrently, then they share one run of the checks', async () => {
    const check = new ScriptedCheck('dep', 'fail');
    const health = service([check]);
    await Promise.all([health.sampleNow(), health.sampleNow(), health.sampleNow()]);
    expect(check.runs).toBe(1);
    await health.stop();
  });
});
