import { recommend, type RuleContext } from '../../../src/services/health/recommendations';
import type { HealthSample } from '../../../src/services/health/history';
import type { Measurement } from '../../../src/services/health/types';
import { loadConfig } from '../../../src/config';

const thresholds = loadConfig({ NODE_ENV: 'test' }).health.thresholds;
const at = new Date('2026-03-01T12:00:00Z');

const meas = (
  key: string,
  value: number,
  status: Measurement['status'],
  details?: Record<string, unknown>,
): Measurement => {
  const [component, measurement] = key.split(':');
  return { component, measurement, componentType: 'system', observedValue: value, status, details };
};

const ctx = (latest: Measurement[], recent: HealthSample[] = []): RuleContext => ({
  latest: new Map(latest.map((m) => [`${m.component}:${m.measurement}`, m])),
  recent,
  thresholds,
  now: at,
});

const waitingSamples = (minutes: number, waiting: (i: number) => number): HealthSample[] =>
  Array.from({ length: minutes * 4 + 1 }, (_, i) => ({
    at: new Date(at.getTime() - (minutes * 60_000 - i * 15_000)),
    status: 'warn' as const,
    values: { 'mongodb:poolWaiting': { value: waiting(i), status: 'warn' as const } },
  }));

describe('recommendations', () => {
  it('when requests waited for a pooled connection throughout 5 minutes, then raise maxPoolSize; not for 4 minutes or with a gap', () => {
    const advice = (r: HealthSample[]) => recommend(ctx([], r)).filter((x) => x.rule === 'pool-waiting');
    expect(advice(waitingSamples(5, () => 2))).toEqual([
      expect.objectContaining({
        advice: expect.stringMatching(/raise MONGODB_MAX_POOL_SIZE or look for slow queries/),
      }),
    ]);
    expect(advice(waitingSamples(4, () => 2))).toEqual([]);
    expect(advice(waitingSamples(5, (i) => (i === 7 ? 0 : 2)))).toEqual([]);
  });

  it('when the event loop lags with the CPU busy, then scale out with PM2; with the CPU idle, then look for blocking work', () => {
    const busy = recommend(ctx([meas('process:eventLoopDelay', 120, 'warn'), meas('system:cpuLoad', 2, 'warn')]));
    expect(busy.map((r) => r.advice)).toEqual([expect.stringMatching(/scale out with more PM2 instances/)]);
    const idle = recommend(ctx([meas('process:eventLoopDelay', 120, 'warn'), meas('system:cpuLoad', 0.1, 'pass')]));
    expect(idle.map((r) => r.advice)).toEqual([expect.stringMatching(/synchronous work/)]);
  });

  it('when the backup disk is over 80 %, then prune backups or move the directory', () => {
    expect(recommend(ctx([meas('system:disk', 85, 'warn')])).map((r) => r.advice)).toEqual([
      expect.stringMatching(/^Disk 85% used .*prune old backups or move the backup directory/),
    ]);
    expect(recommend(ctx([meas('system:disk', 79, 'pass')]))).toEqual([]);
  });

  it('when an expected index is missing, then the advice names the collection, index and keys', () => {
    const out = recommend(
      ctx([
        meas('mongodb:collections', 14, 'warn', {
          missingIndexes: [{ collection: 'invoices', name: 'status_1', key: { status: 1 } }],
        }),
      ]),
    );
    expect(out).toEqual([
      {
        rule: 'missing-index',
        checks: ['mongodb:collections'],
        advice: 'Collection invoices lacks index status_1 {"status":1}: run `npm run db:sync-indexes`.',
      },
    ]);
  });

  it('when everything passes, then no advice', () => {
    expect(
      recommend(
        ctx([
          meas('system:disk', 10, 'pass'),
          meas('process:eventLoopDelay', 3, 'pass'),
          meas('process:heap', 5, 'pass'),
        ]),
      ),
    ).toEqual([]);
  });
});
