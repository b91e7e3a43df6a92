import request from 'supertest';
import Redis from 'ioredis';
import type { TestApp } from '../support/app';
import { sentinelAppWithUsers } from '../support/sentinel-app';
import { listen } from '../support/alerts';
import { bearer, login } from '../support/users';
import { probe, type SentinelTopology } from '../support/redis-topologies';
import { SteadyLoad, type LoadRequest } from '../support/steady-load';
import { killMasterUnderLoad, type FailoverFigures } from '../support/sentinel-failover';
import { waitFor } from '../support/wait';

/**
 * Documented in docs/SCALING.md: with down-after-milliseconds 1000 the app answers again
 * within this long of the master's death (measured 2-4 s on a loaded 2-core machine; the
 * bound leaves room for the sentinels' election and a slow machine).
 */
const FAILOVER_WINDOW_BOUND_MS = 15_000;
const GENERAL_LIMIT = 60;
const USERS = 12;

/**
 * Redis Sentinel (one master, one replica, three sentinels, all real) under a steady load of
 * authenticated reads and logins: the master is killed with SIGKILL, the sentinels promote
 * the replica, the app follows on its own, and only requests inside the failover window get
 * 503 (problem+json, never 500). Afterwards revocation and rate limiting work on the new master.
 */
describe('Redis Sentinel: master killed under load', () => {
  let topology: SentinelTopology;
  let t: TestApp;
  let server: { url: string; stop: () => Promise<void> };
  let tokens: string[];
  let figures: FailoverFigures;
  let revokedBefore: string;
  let revokeAfter: string;
  const email = (i: number): string => `load${i}@sentinel.example`;

  beforeAll(async () => {
    ({ topology, t, tokens } = await sentinelAppWithUsers(__filename, {
      generalLimit: `${GENERAL_LIMIT}/600`,
      users: USERS,
      email,
    }));
    server = await listen(t.app);
    revokedBefore = (await login(t, email(0))).body.accessToken as string;
    revokeAfter = (await login(t, email(1))).body.accessToken as string;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await t?.close();
    await topology?.stop();
  });

  it('when the app is configured with REDIS_SENTINELS, then its client asks the sentinels for the master', async () => {
    const redis = t.container.redis as Redis;
    expect(redis).toBeInstanceOf(Redis);
    expect(redis.options.sentinels).toHaveLength(3);
    expect(redis.options.name).toBe(topology.masterName);
    expect(await redis.ping()).toBe('PONG');
    // The client's connection is to the master the sentinels name.
    const master = await topology.masterPort();
    expect(Number(((await redis.config('GET', 'port')) as string[])[1])).toBe(master);
  });

  it('when the master is killed under load, then the replica is promoted, the app follows within the documented window, and only requests inside it get 503 problem+json', async () => {
    const rlKey = (ip: string): string => `${t.redisPrefix}rl:general:ip:${ip}`;
    // Half the general limit spent by one address before the failover, replicated to the replica.
    for (let i = 0; i < GENERAL_LIMIT / 2; i++)
      expect((await request(t.app).get('/api/v1/nowhere').set('X-Forwarded-For', '203.0.113.9')).status).toBe(404);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/logout')
          .set(...bearer(revokedBefore))
      ).status,
    ).toBe(204);
    await waitFor(
      () => probe(topology.replica.port, async (r) => (await r.zcard(rlKey('203.0.113.9'))) === GENERAL_LIMIT / 2),
      20_000,
      'the replica to hold the rate-limit count',
    );

    const load = new SteadyLoad(server.url, 4, (n): LoadRequest =>
      n % 10 === 9
        ? {
            kind: 'login',
            path: '/api/v1/auth/login',
            method: 'POST',
            // One address per login: the general tier counts anonymous requests per address.
            headers: { 'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` },
            body: { email: email(n % USERS), password: 'tangerine-harbour-73-quietly' },
          }
        : { kind: 'me', path: '/api/v1/auth/me', headers: { authorization: `Bearer ${tokens[n % USERS]}` } },
    );
    load.start();
    try {
      await waitFor(() => load.samples.length >= 60, 60_000, 'the load to warm up');
      expect(load.failures()).toEqual([]);
      figures = await killMasterUnderLoad(topology, load, { settleRequests: 150 });
    } finally {
      await load.stop();
    }
    process.stdout.write(
      `sentinel failover: promoted after ${figures.promotedMs} ms, first success after ${figures.firstSuccessMs} ms, ` +
        `last failure ended ${figures.windowMs} ms after the kill; ${figures.failures.length} of ${figures.total} requests failed, ` +
        `${figures.afterWindow} answered after the window\n`,
    );
    expect(figures.windowMs).toBeLessThanOrEqual(FAILOVER_WINDOW_BOUND_MS);
    expect(load.failures().filter((f) => f.end < figures.killAt)).toEqual([]);
    expect(figures.afterWindow).toBeGreaterThanOrEqual(100);
    for (const f of figures.failures) {
      expect(f.status).toBe(503);
      expect(f.contentType).toMatch(/^application\/problem\+json/);
    }
    expect(load.samples.filter((s) => s.status !== 200 && s.status < 500)).toEqual([]);

    // The session revoked before the failover stays refused; one revoked after it is refused too.
    const me = (token: string) =>
      request(t.app)
        .get('/api/v1/auth/me')
        .set(...bearer(token));
    expect((await me(revokedBefore)).status).toBe(401);
    expect((await me(revokeAfter)).status).toBe(200);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/logout')
          .set(...bearer(revokeAfter))
      ).status,
    ).toBe(204);
    expect((await me(revokeAfter)).status).toBe(401);

    // The count from before the failover carried over: the other half passes, then 429.
    const statuses: number[] = [];
    for (let i = 0; i < GENERAL_LIMIT / 2 + 2; i++)
      statuses.push((await request(t.app).get('/api/v1/nowhere').set('X-Forwarded-For', '203.0.113.9')).status);
    expect(statuses.filter((s) => s === 404)).toHaveLength(GENERAL_LIMIT / 2);
    expect(statuses.slice(GENERAL_LIMIT / 2)).toEqual([429, 429]);
    expect(await probe(topology.replica.port, async (r) => (await r.info('replication')).includes('role:master'))).toBe(
      true,
    );
  });
});
