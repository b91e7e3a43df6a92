import { LeaseLostError, LeaseManager } from '../../src/jobs/lease';
import { buildTestApp, TestClock, type TestApp } from '../support/app';
import { runTs, waitFor } from '../support/process';

describe('cluster-wide lease across processes', () => {
  let t: TestApp;
  const clock = new TestClock();

  beforeAll(async () => {
    t = await buildTestApp(__filename, { BACKUP_ENABLED: 'false' }, { now: clock.now });
  });
  afterAll(() => t.close());

  it('when the holding process is killed (SIGKILL), then nobody else gets the lease until it expires, then this process takes over with a higher fencing token', async () => {
    const ttl = 60_000;
    const child = runTs('tests/jobs/support/lease-holder.ts', {
      LEASE_MONGODB_URI: t.config.mongodb.uri.reveal(),
      LEASE_NAME: 'backup',
      LEASE_TTL_MS: String(ttl),
    });
    await waitFor(
      () => /HELD|BUSY/.test(child.stdout()) || child.child.exitCode !== null,
      30_000,
      'the child to take the lease',
    );
    expect(child.stdout()).toBe('HELD 1\n');
    child.child.kill('SIGKILL');
    await child.exited;

    const here = new LeaseManager({ leases: t.container.models.JobLease, now: clock.now });
    expect(await here.acquire('backup', 'parent', ttl)).toBeNull();
    clock.advance(ttl + 1_000);
    const taken = await here.acquire('backup', 'parent', ttl);
    expect(taken).toMatchObject({ epoch: 2, holder: 'parent' });
    // the dead holder's token is stale for good
    await expect(here.assertHeld({ name: 'backup', epoch: 1 })).rejects.toBeInstanceOf(LeaseLostError);
  }, 60_000);
});
