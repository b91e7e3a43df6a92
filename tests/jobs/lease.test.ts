import { LeaseLostError, LeaseManager } from '../../src/jobs/lease';
import { Scheduler } from '../../src/jobs/scheduler';
import { buildTestApp, TestClock, type TestApp } from '../support/app';

const TTL = 60_000;

describe('cluster-wide lease and scheduler (real database)', () => {
  let t: TestApp;
  const clock = new TestClock();
  const leases = () => new LeaseManager({ leases: t.container.models.JobLease, now: clock.now });

  beforeAll(async () => {
    t = await buildTestApp(__filename, {}, { now: clock.now });
  });
  afterAll(() => t.close());

  it('when ten processes race for a free lease, then exactly one holds it, with epoch 1', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => leases().acquire('race', `p${i}`, TTL)));
    const won = results.filter((r) => r !== null);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ name: 'race', epoch: 1 });
    expect(await t.container.models.JobLease.countDocuments({ name: 'race' })).toBe(1);
  });

  it('when the holder crashes (stops renewing), then another takes over only after expiry, and the stale token cannot commit', async () => {
    const a = leases();
    const b = leases();
    const held = await a.acquire('crash', 'host-a', TTL);
    expect(held).not.toBeNull();
    clock.advance(TTL - 1_000);
    expect(await b.acquire('crash', 'host-b', TTL)).toBeNull();
    clock.advance(2_000);
    const taken = await b.acquire('crash', 'host-b', TTL);
    expect(taken).toMatchObject({ epoch: 2, holder: 'host-b' });
    // host-a wakes up with epoch 1: its fencing check and its renewal are refused
    await expect(a.assertHeld(held!)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(a.renew(held!, TTL)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(b.assertHeld(taken!)).resolves.toBeUndefined();
    // and its release does not free host-b's lease
    await a.release(held!);
    expect(await leases().acquire('crash', 'host-c', TTL)).toBeNull();
  });

  it('when the holder renews, then the lease outlives its first ttl; after release the next taker gets a higher epoch at once', async () => {
    const m = leases();
    const held = (await m.acquire('renewed', 'host-a', TTL))!;
    clock.advance(TTL / 2);
    await m.renew(held, TTL);
    clock.advance(TTL * 0.9);
    expect(await leases().acquire('renewed', 'host-b', TTL)).toBeNull();
    await m.release(held);
    expect(await leases().acquire('renewed', 'host-b', TTL)).toMatchObject({ epoch: 2 });
  });

  it('when two schedulers (two workers) fire the same cluster-wide tick, then the job runs once', async () => {
    let runs = 0;
    const tokens: number[] = [];
    const make = (holder: string) =>
      new Scheduler(
        [
          {
            name: 'nightly',
            schedule: '0 2 * * *',
            clusterWide: true,
            run: async (ctx) => {
              runs++;
              tokens.push(ctx.lease!.epoch);
              await new Promise((r) => setTimeout(r, 50));
            },
          },
        ],
        t.logger,
        'UTC',
        { leases: leases(), holderId: holder },
      );
    const w1 = make('worker-1');
    const w2 = make('worker-2');
    const tick = new Date('2026-11-30T02:00:00Z');
    const outcomes = await Promise.all([w1.fire('nightly', tick), w2.fire('nightly', tick)]);
    expect(runs).toBe(1);
    expect(outcomes.sort()).toEqual(['ran', 'skipped-elsewhere']);
    // a worker whose clock is a few seconds late fires the same tick after the first run finished: still once
    expect(await w2.fire('nightly', new Date(tick.getTime() + 5_000))).toBe('skipped-elsewhere');
    expect(runs).toBe(1);
    // the next night runs again, under a newer fencing token
    expect(await w2.fire('nightly', new Date(tick.getTime() + 86_400_000))).toBe('ran');
    expect(runs).toBe(2);
    expect(tokens[1]).toBeGreaterThan(tokens[0]);
  });

  it('when a cluster-wide run is still going on one worker, then a later tick on another worker is skipped, not started twice', async () => {
    let release!: () => void;
    const blocker = new Promise<void>((r) => (release = r));
    let runs = 0;
    const job = {
      name: 'long',
      schedule: '* * * * *',
      clusterWide: true,
      run: async () => {
        runs++;
        await blocker;
      },
    };
    const w1 = new Scheduler([job], t.logger, 'UTC', { leases: leases(), holderId: 'w1' });
    const w2 = new Scheduler([job], t.logger, 'UTC', { leases: leases(), holderId: 'w2' });
    const first = w1.fire('long', new Date('2026-11-30T03:00:00Z'));
    await new Promise((r) => setTimeout(r, 100));
    expect(await w1.fire('long', new Date('2026-11-30T03:01:00Z'))).toBe('skipped-running');
    expect(await w2.fire('long', new Date('2026-11-30T03:01:00Z'))).toBe('skipped-elsewhere');
    release();
    expect(await first).toBe('ran');
    expect(runs).toBe(1);
  });

  it('when a cluster-wide job is configured without a lease manager, then the scheduler refuses to start', () => {
    expect(
      () => new Scheduler([{ name: 'x', schedule: '* * * * *', clusterWide: true, run: async () => 0 }], t.logger),
    ).toThrow(/lease manager/);
  });
});
