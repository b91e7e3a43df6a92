import { recommend, type RuleContext } from '../../../src/services/health/recommendations';
import type { Measurement } from '../../../src/services/health/types';
import { loadConfig } from '../../../src/config';

const thresholds = loadConfig({ NODE_ENV: 'test' }).health.thresholds;

const ctx = (latest: Measurement[]): RuleContext => ({
  latest: new Map(latest.map((m) => [`${m.component}:${m.measurement}`, m])),
  recent: [],
  thresholds,
  now: new Date('2026-03-01T12:00:00Z'),
});

const meas = (key: string, status: Measurement['status']): Measurement => {
  const [component, measurement] = key.split(':');
  return { component, measurement, componentType: 'component', observedValue: 1, status };
};

describe('recommendations about one check (backup age, failed logins)', () => {
  it.each([
    ['backup-age', 'backups:age', /^No recent verified backup: check the backup job log and run a backup now\.$/],
    ['failed-logins', 'security:failedLogins', /^Many failed logins: review `auth\.login` failures in the audit trail/],
  ])(
    'when %s check %s warns or fails, then its advice names that check; when it passes or is absent, then nothing',
    (rule, check, advice) => {
      const about = (latest: Measurement[]) => recommend(ctx(latest)).filter((r) => r.rule === rule);
      for (const status of ['warn', 'fail'] as const) {
        expect(about([meas(check, status)])).toEqual([
          { rule, checks: [check], advice: expect.stringMatching(advice) },
        ]);
      }
      expect(about([meas(check, 'pass')])).toEqual([]);
      expect(about([])).toEqual([]);
    },
  );
});
