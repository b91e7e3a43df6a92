import { planRetention, type RetentionCandidate } from '../../../src/services/backup-restore/retention';

const DAY = 86_400_000;
const POLICY = { keepDailyDays: 30, keepWeeklyWeeks: 12 };
// Day 0 is Sunday 2026-06-07; the simulation runs 90 days of schedules.
const START = Date.parse('2026-06-07T00:00:00Z');
const at = (day: number, hour: number) => new Date(START + day * DAY + hour * 3_600_000);

interface Scenario {
  /** Days whose backup run failed (no backup written). */
  failedRuns: Set<number>;
  /** Days whose backups were written but failed verification. */
  failedVerifications: Set<number>;
}

/** Runs daily 02:00 and Sunday 03:00 schedules for 90 days, pruning after each run like the service does. */
function simulate(s: Scenario): { survivors: string[]; deleted: string[]; lastSkipped: string[] } {
  let store: RetentionCandidate[] = [];
  const deleted: string[] = [];
  let lastSkipped: string[] = [];
  for (let day = 0; day < 90; day++) {
    const runs: Array<{ kind: 'daily' | 'weekly'; hour: number }> = [{ kind: 'daily', hour: 2 }];
    if (day % 7 === 0) runs.push({ kind: 'weekly', hour: 3 });
    for (const run of runs) {
      const finishedAt = at(day, run.hour);
      if (!s.failedRuns.has(day))
        store.push({
          id: `${run.kind}-${day}`,
          kind: run.kind,
          finishedAt,
          verified: !s.failedVerifications.has(day),
        });
      // a backup of the next run is in progress while pruning: it must survive untouched
      const writing: RetentionCandidate = {
        id: 'writing',
        kind: 'daily',
        finishedAt: at(-400, 0),
        verified: false,
        inProgress: true,
      };
      const plan = planRetention([...store, writing], POLICY, finishedAt);
      expect(plan.skipped).toContainEqual({ id: 'writing', reason: 'being written' });
      expect(plan.delete.map((d) => d.id)).not.toContain('writing');
      const gone = new Set(plan.delete.map((d) => d.id));
      deleted.push(...gone);
      store = store.filter((b) => !gone.has(b.id));
      lastSkipped = plan.skipped.map((d) => d.id);
    }
  }
  return { survivors: store.map((b) => b.id).sort(), deleted, lastSkipped };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const ids = (kind: string, days: number[]) => days.map((d) => `${kind}-${d}`);

describe('retention: 90 days of schedules with injected failures', () => {
  it('when every run and verification succeeds, then exactly the last 30 days of dailies and 12 weeks of weeklies survive', () => {
    const { survivors } = simulate({ failedRuns: new Set(), failedVerifications: new Set() });
    // the last run is day 89, 03:00: dailies newer than day 59 03:00 (day 59's ran at 02:00, expired); weeklies
    // from day 89-84=5 on: Sundays 7, 14, ..., 84
    const expected = [
      ...ids('daily', range(60, 89)),
      ...ids('weekly', [7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84]),
    ];
    expect(survivors).toEqual(expected.sort());
  });

  it('when runs fail on some days, then those days are simply missing and nothing else changes', () => {
    const { survivors } = simulate({ failedRuns: new Set([10, 61, 62, 70]), failedVerifications: new Set() });
    const expected = [
      ...ids(
        'daily',
        range(60, 89).filter((d) => ![61, 62, 70].includes(d)),
      ),
      ...ids('weekly', [7, 14, 21, 28, 35, 42, 49, 56, 63, 77, 84]),
    ];
    expect(survivors).toEqual(expected.sort());
  });

  it('when verification fails from day 50 on, then no expired backup newer than the last verified one (day 49) is deleted, and each is reported as skipped', () => {
    const { survivors, lastSkipped } = simulate({
      failedRuns: new Set([52]),
      failedVerifications: new Set(range(50, 89)),
    });
    // the last verified backups are daily-49 (02:00) and weekly-49 (03:00): weekly-49 is the newest verified one,
    // so daily-49 (older, expired) goes; everything after it is kept though expired
    const expected = [
      ...ids(
        'daily',
        range(50, 89).filter((d) => d !== 52),
      ),
      ...ids('weekly', [7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84]),
    ];
    expect(survivors).toEqual(expected.sort());
    expect(lastSkipped).toEqual([
      'writing',
      ...ids(
        'daily',
        range(50, 59).filter((d) => d !== 52),
      ),
    ]);
  });

  it('when an expired backup is object-locked, then it is skipped and reported, and deleted once the lock ends', () => {
    const now = at(100, 0);
    const backups: RetentionCandidate[] = [
      { id: 'old', kind: 'daily', finishedAt: at(10, 2), verified: true, lockedUntil: at(101, 0) },
      { id: 'new', kind: 'daily', finishedAt: at(99, 2), verified: true },
    ];
    const locked = planRetention(backups, POLICY, now);
    expect(locked.delete).toEqual([]);
    expect(locked.skipped).toEqual([{ id: 'old', reason: expect.stringMatching(/object-locked until/) }]);
    expect(planRetention(backups, POLICY, at(102, 0)).delete.map((d) => d.id)).toEqual(['old']);
  });
});
