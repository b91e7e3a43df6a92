import express from 'express';
import request from 'supertest';
import { startRedis, freePort, type LocalService } from '../../../scripts/local-services';
import { buildAlertRig, type AlertRig } from '../../support/alert-rig';
import { waitFor } from '../../support/wait';
import { createUser } from '../../support/users';
import type { TestApp } from '../../support/app';
import { createLogger } from '../../../src/lib/logger';
import { loadConfig } from '../../../src/config';
import { errorHandler } from '../../../src/middleware/error-handler';
import { AppError } from '../../../src/lib/errors';
import { LoginGuard } from '../../../src/services/auth/login-guard';
import { AlertSources, DENIAL_BURST } from '../../../src/services/alerts/alert-sources';
import type { AlertInput, AlertKey } from '../../../src/services/alerts/alert-raiser';

/** The signals wired into alerts by the container: Redis down/up, security signals, 500s per minute. */
describe('alert sources wired by the container', () => {
  let redis: LocalService;
  let redisPort: number;
  let rig: AlertRig;
  const openAlert = (kind: string) => rig.c.models.Alert.findOne({ kind, status: { $ne: 'resolved' } }).lean();

  beforeAll(async () => {
    redisPort = await freePort();
    redis = await startRedis({ port: redisPort });
    rig = await buildAlertRig(__filename, {
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      ALERT_ERROR_RATE_THRESHOLD: '3',
    });
  }, 60_000);
  afterAll(async () => {
    await rig.close();
    await redis.stop?.();
  });

  it('raises a critical alert when Redis goes down and resolves it when Redis is back', async () => {
    await redis.stop?.();
    await waitFor(async () => (await openAlert('redis.down')) !== null, 30_000, 'the redis.down alert');
    const down = (await openAlert('redis.down'))!;
    expect(down).toMatchObject({ source: 'system', severity: 'critical', subject: 'redis' });
    // The outbox entries are written just after the alert itself.
    const channels = async () =>
      (await rig.c.deps.operations.alerts.deliveriesOf(down._id)).map((d) => d.channel).sort();
    await waitFor(async () => (await channels()).length === 4, 10_000, 'the outbox entries of the alert');
    expect(await channels()).toEqual(['dashboard', 'email', 'slack', 'sms']);

    redis = await startRedis({ port: redisPort });
    await waitFor(
      async () => (await rig.c.deps.operations.alerts.get(down._id))?.status === 'resolved',
      30_000,
      'the redis.down alert to resolve',
    );
    expect(await rig.c.deps.operations.alerts.get(down._id)).toMatchObject({
      resolvedBy: 'system',
      resolveComment: 'Redis answers again',
    });
  });

  it('raises an alert for a reused refresh token', async () => {
    const t = { container: rig.c } as unknown as TestApp;
    const userId = await createUser(t, 'reuse@example.com', 'user');
    const { refreshToken } = await rig.c.sessions.create(userId, false);
    await rig.c.sessions.rotate(refreshToken);
    await expect(rig.c.sessions.rotate(refreshToken)).rejects.toMatchObject({ code: 'refresh-token-reused' });
    await waitFor(async () => (await openAlert('auth.refresh-token-reuse')) !== null, 10_000, 'the reuse alert');
    expect(await openAlert('auth.refresh-token-reuse')).toMatchObject({
      source: 'security',
      severity: 'error',
      subject: userId,
    });
  });

  it('raises a critical alert when audit chain verification fails', async () => {
    const audit = rig.c.deps.protection.audit;
    await audit.record({ action: 'test.entry', outcome: 'succeeded', details: { n: 1 } });
    await audit.record({ action: 'test.entry', outcome: 'succeeded', details: { n: 2 } });
    await rig.c.database
      .db()
      .collection('audit_events')
      .updateOne({ action: 'test.entry', 'details.n': 1 }, { $set: { 'details.n': 99 } });
    const v = await audit.verify();
    expect(v.intact).toBe(false);
    await waitFor(async () => (await openAlert('audit.chain-broken')) !== null, 10_000, 'the chain alert');
    expect(await openAlert('audit.chain-broken')).toMatchObject({ source: 'security', severity: 'critical' });
  });

  it('counts HTTP 500s per minute and raises http.error-rate at the threshold, once a minute', async () => {
    const alerts = rig.c.deps.operations.alerts;
    // Counts are per clock minute: hold the clock so the test never straddles two minutes.
    rig.clock.freeze();
    const app = express();
    app.get('/boom', () => {
      throw new Error('unexpected');
    });
    app.get('/busy', () => {
      throw AppError.serviceUnavailable('busy');
    });
    app.use(errorHandler(createLogger({ level: 'silent' }), () => alerts.recordServerError()));
    await request(app).get('/busy').expect(503); // a known outage is not an unexpected error
    await request(app).get('/boom').expect(500);
    await request(app).get('/boom').expect(500);
    expect(await openAlert('http.error-rate')).toBeNull();
    await request(app).get('/boom').expect(500);
    await waitFor(async () => (await openAlert('http.error-rate')) !== null, 10_000, 'the error-rate alert');
    for (let i = 0; i < 5; i++) await request(app).get('/boom').expect(500);
    const alert = (await openAlert('http.error-rate'))!;
    expect(alert).toMatchObject({ severity: 'error', occurrences: 1 });
    rig.clock.thaw();
  });

  it('the login guard reports an address it refuses for password spraying', async () => {
    const refused: string[] = [];
    const guard = new LoginGuard({
      redis: rig.c.redis,
      ipFailureLimit: 2,
      freeFailures: 100,
      onAddressRefused: (a) => refused.push(a),
    });
    await guard.takePasswordAttempt('a@example.com', '203.0.113.7');
    await guard.takePasswordAttempt('b@example.com', '203.0.113.7');
    await expect(guard.takePasswordAttempt('c@example.com', '203.0.113.7')).rejects.toMatchObject({ status: 429 });
    expect(refused).toEqual(['203.0.113.7']);
  });
});

describe('AlertSources mapping', () => {
  const raised: AlertInput[] = [];
  const resolved: AlertKey[] = [];
  const sources = new AlertSources({
    raiseInBackground: (i) => raised.push(i),
    resolveInBackground: (k) => resolved.push(k),
  });

  it('gives each security signal its own fingerprint and severity', () => {
    sources.securityAlert({ kind: 'second-factor-lockout', userId: 'u1', details: { failures: 5 } });
    sources.securityAlert({ kind: 'password-guessing', userId: null, details: { accountFailures: 50 } });
    sources.passwordSpraying('198.51.100.0');
    expect(raised.map((r) => [r.kind, r.severity, r.subject ?? null])).toEqual([
      ['auth.second-factor-lockout', 'warning', 'u1'],
      ['auth.password-guessing', 'error', null],
      ['auth.password-spraying', 'error', '198.51.100.0'],
    ]);
  });

  it('alerts on a burst of refused credentials from one address, not on each one', () => {
    raised.length = 0;
    const event = (countInWindow: number) => ({
      type: 'auth.denied' as const,
      reason: 'invalid-token',
      credential: 'bearer' as const,
      ip: '192.0.2.1',
      method: 'GET',
      path: '/api/v1/x',
      at: new Date(),
      countInWindow,
      audited: false,
    });
    sources.securityEvent(event(1));
    sources.securityEvent(event(DENIAL_BURST - 1));
    expect(raised).toHaveLength(0);
    sources.securityEvent(event(DENIAL_BURST));
    sources.securityEvent(event(DENIAL_BURST + 1));
    expect(raised.map((r) => r.kind)).toEqual(['auth.denied-burst']);
  });
});

describe('a process that cannot start its jobs', () => {
  it('raises a critical process.jobs-failed alert and still fails its start', async () => {
    const { createContainer } = await import('../../../src/container');
    const rig = await buildAlertRig(__filename);
    const broken = createContainer(
      loadConfig({ ...rig.env, ALERT_RETENTION_CRON: '99 99 99 99 99' }),
      createLogger({ level: 'silent' }),
    );
    try {
      await expect(broken.start()).rejects.toThrow();
      await waitFor(
        async () => (await rig.c.models.Alert.findOne({ kind: 'process.jobs-failed' }).lean()) !== null,
        10_000,
        'the jobs-failed alert',
      );
      expect(await rig.c.models.Alert.findOne({ kind: 'process.jobs-failed' }).lean()).toMatchObject({
        source: 'system',
        severity: 'critical',
        status: 'open',
      });
    } finally {
      await broken.stop().catch(() => undefined);
      await rig.close();
    }
  });
});
