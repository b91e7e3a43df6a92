import request from 'supertest';
import type { Express } from 'express';
import { freePort, startRedis, type LocalService } from '../../scripts/local-services';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { bearer, createUser, login } from '../support/users';
import { waitFor } from '../support/wait';
import { CALM_HOST } from './support/mongo-outage';
import { recordFigures } from './support/report';

/**
 * Redis (this test's own redis-server) stopped and restarted under two processes' worth of
 * configuration: the defaults (general tier fails open, auth tier fails closed) and the
 * opposite (general closed, auth open). Nothing may hang or answer 500; bearer requests
 * fail closed; a session revoked while Redis is down is refused once it is back.
 */
describe('Redis stopped and restarted (own redis-server)', () => {
  let redis: LocalService;
  let redisPort: number;
  let defaults: TestApp;
  let inverted: TestApp;

  beforeAll(async () => {
    redisPort = await freePort();
    redis = await startRedis({ port: redisPort });
    const env = { ...ROUTE_TEST_ENV, ...CALM_HOST, REDIS_URL: `redis://127.0.0.1:${redisPort}`, LOG_LEVEL: 'warn' };
    defaults = await buildTestApp(__filename, env);
    inverted = await buildTestApp(__filename, {
      ...env,
      RATE_LIMIT_GENERAL_FAIL_OPEN: 'false',
      RATE_LIMIT_AUTH_FAIL_OPEN: 'true',
    });
  }, 120_000);
  afterAll(async () => {
    if (redis.url && !(await defaults.container.redis.ping().catch(() => null)))
      redis = await startRedis({ port: redisPort });
    await defaults?.close();
    await inverted?.close();
    await redis?.stop?.();
  });

  /** A request with its wall time: an outage must be answered, not waited out. */
  const timed = async (req: PromiseLike<request.Response>): Promise<{ res: request.Response; ms: number }> => {
    const t0 = Date.now();
    const res = await req;
    return { res, ms: Date.now() - t0 };
  };
  const me = (app: Express, token: string) =>
    request(app)
      .get('/api/v1/auth/me')
      .set(...bearer(token));
  const signIn = async (t: TestApp, email: string): Promise<string> => {
    const res = await login(t, email);
    expect(res.status).toBe(200);
    return res.body.accessToken as string;
  };
  const expectProblem = (res: request.Response, status: number): void => {
    expect({ status: res.status, type: res.headers['content-type'] }).toEqual({
      status,
      type: expect.stringMatching(/^application\/problem\+json/),
    });
  };

  it('when Redis stops, then limits fail open/closed as configured, bearer requests get a quick 503, a session revoked meanwhile is refused once Redis is back, and both apps recover without restart', async () => {
    await createUser(defaults, 'kept@redis-outage.example');
    await createUser(defaults, 'revoked@redis-outage.example');
    await createUser(inverted, 'inv@redis-outage.example');
    const kept = await signIn(defaults, 'kept@redis-outage.example');
    const revoked = await signIn(defaults, 'revoked@redis-outage.example');
    const revokedSid = (JSON.parse(Buffer.from(revoked.split('.')[1], 'base64url').toString()) as { sid: string }).sid;
    expect((await me(defaults.app, kept)).status).toBe(200);

    await redis.stop?.();
    const stoppedAt = Date.now();
    await waitFor(
      () => defaults.container.redis.status !== 'ready' && inverted.container.redis.status !== 'ready',
      10_000,
      'both clients to notice Redis is gone',
    );

    const during = [
      // Bearer: the revocation check fails closed, whatever the limiter does.
      ['bearer, defaults', await timed(me(defaults.app, kept)), 503],
      ['bearer, inverted', await timed(me(inverted.app, kept)), 503],
      // General tier, anonymous: open lets it reach authentication (401), closed refuses (503).
      ['general open', await timed(request(defaults.app).get('/api/v1/employees')), 401],
      ['general closed', await timed(request(inverted.app).get('/api/v1/employees')), 503],
      // Auth tier: closed refuses sign-in (503) before the password is even checked.
      ['auth closed', await timed(login(defaults, 'kept@redis-outage.example')), 503],
      ['readiness', await timed(request(defaults.app).get('/health/ready')), 503],
    ] as const;
    const seen: Array<{ what: string; status: number; ms: number }> = during.map(([what, { res, ms }]) => ({
      what,
      status: res.status,
      ms,
    }));
    expect(seen.map(({ what, status }) => [what, status])).toEqual(during.map(([what, , status]) => [what, status]));
    for (const [what, { res }] of during) if (what !== 'readiness') expectProblem(res, res.status);
    for (const [what, { res }] of during.filter(([w, { res }]) => w !== 'readiness' && res.status === 503))
      expect([what, res.headers['retry-after']]).toEqual([what, expect.stringMatching(/^\d+$/)]);
    // Auth tier open: the limiter lets the sign-in through; what follows must still be an answer, not a 500.
    const openLogin = await timed(login(inverted, 'inv@redis-outage.example'));
    expect([200, 503]).toContain(openLogin.res.status);
    seen.push({ what: 'auth open', status: openLogin.res.status, ms: openLogin.ms });
    // Quick: no request waits for Redis to come back.
    expect(seen.filter((s) => s.ms > 2_000)).toEqual([]);

    // Revoked while Redis is down (MongoDB is the source of truth): e.g. an admin in another process.
    await defaults.container.sessions.revoke(revokedSid, 'test: revoked during the Redis outage');

    redis = await startRedis({ port: redisPort });
    const restartedAt = Date.now();
    await waitFor(
      async () => (await me(defaults.app, kept)).status === 200 && (await me(inverted.app, kept)).status !== 503,
      10_000,
      'both apps to serve again within 10 s of the restart',
      100,
    );
    const recoveredAfterMs = Date.now() - restartedAt;
    expect((await me(defaults.app, revoked)).status).toBe(401);
    expect((await me(defaults.app, kept)).status).toBe(200);
    expect((await request(inverted.app).get('/api/v1/employees')).status).toBe(401);
    expect((await login(defaults, 'kept@redis-outage.example')).status).toBe(200);
    // Revoked after the outage: refused at once.
    const logout = await request(defaults.app)
      .post('/api/v1/auth/logout')
      .set(...bearer(kept));
    expect(logout.status).toBeLessThan(300);
    expect((await me(defaults.app, kept)).status).toBe(401);
    recordFigures('redis-outage', { outageMs: restartedAt - stoppedAt, during: seen, recoveredAfterMs });
  }, 120_000);
});
