import { createLogger } from '../../../src/lib/logger';
import { ThresholdAlerts } from '../../../src/services/health/threshold-alerts';
import type { HealthStatus, Measurement } from '../../../src/services/health/types';
import type { AlertInput, AlertKey, RaisedAlert } from '../../../src/services/alerts/alert-raiser';
import { RecordingAlerts } from '../../support/recording-alerts';

const m = (status: HealthStatus, value = 1): Measurement => ({
  component: 'mongodb',
  measurement: 'responseTime',
  componentType: 'datastore',
  observedValue: value,
  observedUnit: 'ms',
  status,
  output: status === 'pass' ? undefined : 'slow',
});

const logger = createLogger({ level: 'silent' });
const advice = [{ rule: 'db-latency', checks: ['mongodb:responseTime'], advice: 'check slow queries' }];

describe('ThresholdAlerts', () => {
  it('when a check flaps between pass and fail, then nothing is raised; when it holds fail for N samples, then one alert', async () => {
    const alerts = new RecordingAlerts();
    const ta = new ThresholdAlerts({ alerts, holdSamples: 3, timeoutMs: 1000, logger });
    for (const s of ['fail', 'pass', 'fail', 'fail', 'pass', 'warn', 'fail', 'pass'] as HealthStatus[])
      await ta.observe([m(s)], advice);
    expect(alerts.raised).toEqual([]);

    for (let i = 0; i < 3; i++) await ta.observe([m('fail', 900)], advice);
    expect(alerts.raised).toEqual([
      expect.objectContaining({
        source: 'health',
        kind: 'health.threshold',
        subject: 'mongodb:responseTime',
        severity: 'critical',
        title: 'Health check mongodb:responseTime is fail (900 ms)',
        message: 'slow\ncheck slow queries',
      }),
    ]);
    expect(alerts.raised[0].details).toMatchObject({ recommendations: ['check slow queries'] });
    // Still failing: no repeat.
    for (let i = 0; i < 5; i++) await ta.observe([m('fail')], advice);
    expect(alerts.raised).toHaveLength(1);

    // Two passes are not yet a recovery; the third is.
    await ta.observe([m('pass')], []);
    await ta.observe([m('pass')], []);
    expect(alerts.resolved).toEqual([]);
    await ta.observe([m('pass')], []);
    expect(alerts.resolved).toEqual([
      expect.objectContaining({ source: 'health', kind: 'health.threshold', subject: 'mongodb:responseTime' }),
    ]);
  });

  it('when warn holds, then a warning; when it worsens to fail, then the same key is raised again as critical', async () => {
    const alerts = new RecordingAlerts();
    const ta = new ThresholdAlerts({ alerts, holdSamples: 1, timeoutMs: 1000, logger });
    await ta.observe([m('warn')], []);
    await ta.observe([m('fail')], []);
    expect(alerts.raised.map((a) => [a.subject, a.severity])).toEqual([
      ['mongodb:responseTime', 'warning'],
      ['mongodb:responseTime', 'critical'],
    ]);
  });

  it('when the alert store refuses, then the transition is retried on the next sample', async () => {
    const inner = new RecordingAlerts();
    let failNext = true;
    const flaky = {
      raise: async (input: AlertInput): Promise<RaisedAlert> => {
        if (failNext) {
          failNext = false;
          throw new Error('alerts collection unreachable');
        }
        return inner.raise(input);
      },
      resolveByKey: (key: AlertKey, note?: string) => inner.resolveByKey(key, note),
    };
    const ta = new ThresholdAlerts({ alerts: flaky, holdSamples: 2, timeoutMs: 1000, logger });
    await ta.observe([m('fail')], []);
    await ta.observe([m('fail')], []);
    expect(inner.raised).toHaveLength(0);
    await ta.observe([m('fail')], []);
    expect(inner.raised).toHaveLength(1);
  });
});
