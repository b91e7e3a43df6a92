import { loadConfig } from '../../src/config';
import { configProblems } from '../support/config';

describe('health and metrics configuration', () => {
  it('when nothing is set, then the thresholds are the documented defaults', () => {
    const { health, metrics } = loadConfig({ NODE_ENV: 'development' });
    expect(health.thresholds).toEqual({
      dbLatencyMs: { warn: 100, fail: 500 },
      redisLatencyMs: { warn: 100, fail: 500 },
      eventLoopDelayMs: { warn: 50, fail: 200 },
      memoryPercent: { warn: 80, fail: 90 },
      diskPercent: { warn: 80, fail: 90 },
      cpuLoadPerCore: { warn: 1.5, fail: 3 },
      backupAgeHours: { warn: 26, fail: 50 },
      failedLogins: { warn: 20, fail: 100 },
    });
    expect(health).toMatchObject({ sampleIntervalMs: 15_000, readyPingMinIntervalMs: 1_000, alertAfterSamples: 3 });
    expect(health.endpoints).toEqual([]);
    expect(metrics.token).toBeUndefined();
  });

  it('when thresholds are malformed or inverted, then startup is refused naming the variable', () => {
    expect(configProblems({ NODE_ENV: 'development', HEALTH_DB_LATENCY_MS: '500/100' })).toEqual([
      expect.stringMatching(/^HEALTH_DB_LATENCY_MS: .*warn limit must not exceed/),
    ]);
    expect(configProblems({ NODE_ENV: 'development', HEALTH_DISK_PERCENT: '80' })).toEqual([
      expect.stringMatching(/^HEALTH_DISK_PERCENT: .*<warn>\/<fail>/),
    ]);
  });

  it('when endpoints are listed, then each is parsed with its status, timeout and warn limit; bad entries are refused', () => {
    const { health } = loadConfig({
      NODE_ENV: 'development',
      HEALTH_ENDPOINTS: 'billing=http://billing.internal:8080/health, tax=https://tax.example/ping|204|2000|300',
    });
    expect(health.endpoints).toEqual([
      {
        name: 'billing',
        url: 'http://billing.internal:8080/health',
        expectedStatus: 200,
        timeoutMs: 5000,
        warnMs: 2500,
      },
      { name: 'tax', url: 'https://tax.example/ping', expectedStatus: 204, timeoutMs: 2000, warnMs: 300 },
    ]);
    for (const bad of ['billing', 'x=ftp://host/', 'a=http://h/|200|100|500', 'a=http://h/,a=http://i/'])
      expect(configProblems({ NODE_ENV: 'development', HEALTH_ENDPOINTS: bad })).toEqual([
        expect.stringMatching(/^HEALTH_ENDPOINTS: /),
      ]);
  });

  it('when METRICS_TOKEN is short, then it is refused; a long one is kept as a secret', () => {
    expect(configProblems({ NODE_ENV: 'development', METRICS_TOKEN: 'short' })).toEqual([
      expect.stringMatching(/^METRICS_TOKEN: .*24 characters/),
    ]);
    const { metrics } = loadConfig({ NODE_ENV: 'development', METRICS_TOKEN: 'a'.repeat(32) });
    expect(metrics.token?.reveal()).toBe('a'.repeat(32));
    expect(JSON.stringify(metrics)).not.toContain('a'.repeat(32));
  });
});
