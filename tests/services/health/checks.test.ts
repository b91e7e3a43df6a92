import os from 'node:os';
import { statfsSync } from 'node:fs';
import request from 'supertest';
import { BackupCheck } from '../../../src/services/health/checks/backup.check';
import { SystemCheck } from '../../../src/services/health/checks/system.check';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../../support/app';
import { bearer, createUser, login, mfaSession } from '../../support/users';

const limits = {
  cpuLoadPerCore: { warn: 1000, fail: 2000 },
  memoryPercent: { warn: 99, fail: 100 },
  eventLoopDelayMs: { warn: 50, fail: 200 },
  diskPercent: { warn: 99.9, fail: 100 },
};

describe('health checks', () => {
  it('when the event loop is blocked for 300 ms, then process:eventLoopDelay reports it and fails; the next sample is calm again', async () => {
    const check = new SystemCheck({ limits, diskPath: os.tmpdir() });
    try {
      // A loaded CI machine can hide one block (the histogram samples by timer); the claim is that
      // a blocked loop is seen, so up to three blocks are tried and the first one seen is checked.
      let blocked: Awaited<ReturnType<typeof check.run>>[number] | undefined;
      for (let attempt = 0; attempt < 3 && blocked?.status !== 'fail'; attempt++) {
        await new Promise((r) => setTimeout(r, 50));
        const until = performance.now() + 300;
        while (performance.now() < until) {
          // busy: the monitor sees one delayed tick
        }
        await new Promise((r) => setTimeout(r, 50));
        blocked = (await check.run(1000)).find((m) => m.measurement === 'eventLoopDelay')!;
      }
      expect(blocked).toMatchObject({ component: 'process', observedUnit: 'ms', status: 'fail' });
      expect(blocked!.observedValue).toBeGreaterThanOrEqual(250);
      await new Promise((r) => setTimeout(r, 100));
      const calm = (await check.run(1000)).find((m) => m.measurement === 'eventLoopDelay')!;
      expect(calm.observedValue).toBeLessThan(250);
    } finally {
      check.close();
    }
  });

  it('when the disk is measured, then the percentage matches statfs of the backup directory', async () => {
    const check = new SystemCheck({ limits, diskPath: os.tmpdir() });
    try {
      const disk = (await check.run(1000)).find((m) => m.measurement === 'disk')!;
      const fs = statfsSync(os.tmpdir());
      const used = fs.blocks - fs.bfree;
      expect(disk.observedValue).toBeCloseTo((used / (used + fs.bavail)) * 100, 0);
      expect(disk.details).toMatchObject({ path: os.tmpdir(), totalBytes: fs.blocks * fs.bsize });
    } finally {
      check.close();
    }
  });

  it('when the last verified backup is 10, 30 or 60 hours old or missing, then pass, warn, fail, warn', async () => {
    const now = new Date('2026-05-01T12:00:00Z');
    const at = (hours: number | null) => () =>
      Promise.resolve(hours === null ? null : new Date(now.getTime() - hours * 3_600_000));
    const statusFor = async (hours: number | null) =>
      (
        await new BackupCheck({
          lastVerifiedBackupAt: at(hours),
          ageHours: { warn: 26, fail: 50 },
          now: () => now,
        }).run()
      )[0];
    expect(await statusFor(10)).toMatchObject({ status: 'pass', observedValue: 10, observedUnit: 'h' });
    expect((await statusFor(30)).status).toBe('warn');
    expect((await statusFor(60)).status).toBe('fail');
    expect(await statusFor(null)).toMatchObject({ status: 'warn', output: 'no verified backup exists yet' });
  });

  describe('in the app', () => {
    let t: TestApp;
    let backupAt: Date | null = null;
    beforeAll(async () => {
      t = await buildTestApp(
        __filename,
        { ...ROUTE_TEST_ENV, HEALTH_SAMPLE_INTERVAL_MS: '3600000', HEALTH_FAILED_LOGINS: '2/3' },
        { lastVerifiedBackupAt: async () => backupAt },
      );
    });
    afterAll(() => t.close());

    it('when logins fail, then security:failedLogins counts them from the audit trail and warns, then fails', async () => {
      await createUser(t, 'target@checks.example');
      const failedLogins = async () => {
        await t.container.deps.operations.health.sampleNow();
        return t.container.deps.operations.health.report().checks['security:failedLogins'][0];
      };
      expect(await failedLogins()).toMatchObject({ observedValue: 0, status: 'pass' });
      await login(t, 'target@checks.example', 'wrong-password-1');
      await login(t, 'nobody@checks.example', 'wrong-password-2');
      expect(await failedLogins()).toMatchObject({ observedValue: 2, status: 'warn' });
      await login(t, 'target@checks.example', 'wrong-password-3');
      expect(await failedLogins()).toMatchObject({ observedValue: 3, status: 'fail' });
    });

    it('when operations wait for a pooled connection (driver CMAP events), then mongodb:poolWaiting counts them and warns', async () => {
      const client = t.container.database.connection.getClient();
      const health = t.container.deps.operations.health;
      const waiting = async () => {
        await health.sampleNow();
        return health.report().checks['mongodb:poolWaiting'][0];
      };
      expect(await waiting()).toMatchObject({ observedValue: 0, status: 'pass' });
      // Three check-outs start and the pool answers none of them yet; one then gives up.
      for (let i = 0; i < 3; i++) client.emit('connectionCheckOutStarted', { address: '127.0.0.1:1' } as never);
      client.emit('connectionCheckOutFailed', { address: '127.0.0.1:1', reason: 'timeout' } as never);
      expect(await waiting()).toMatchObject({ observedValue: 2, status: 'warn', observedUnit: 'requests' });
      for (let i = 0; i < 2; i++)
        client.emit('connectionCheckOutFailed', { address: '127.0.0.1:1', reason: 'timeout' } as never);
      expect(await waiting()).toMatchObject({ observedValue: 0, status: 'pass' });
    });

    it('when the backup service reports its last verified backup, then backups:age shows it to admins', async () => {
      backupAt = new Date(Date.now() - 2 * 3_600_000);
      await t.container.deps.operations.health.sampleNow();
      const admin = await mfaSession(t, await createUser(t, 'admin@checks.example', 'admin'));
      const body = JSON.parse(
        (
          await request(t.app)
            .get('/health')
            .set(...bearer(admin))
        ).text,
      );
      const [age] = body.checks['backups:age'];
      expect(age.status).toBe('pass');
      expect(age.observedValue).toBeCloseTo(2, 1);
      expect(age.details.lastVerifiedAt).toBe(backupAt.toISOString());
    });
  });
});
