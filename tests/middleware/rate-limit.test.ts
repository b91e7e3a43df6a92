import request from 'supertest';
import { buildTestApp, TestClock, type TestApp } from '../support/app';
import { freePort } from '../../scripts/local-services';
import { createUser, mfaSession, bearer, PASSWORD } from '../support/users';

describe('rate limiting (through the real app, real Redis)', () => {
  // A window far longer than the requests take even on a loaded machine: counts, not timing.
  describe('general tier, 5 per 60 s', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp(__filename, { RATE_LIMIT_GENERAL: '5/60', TRUST_PROXY: '1' });
    });
    afterAll(() => t.close());

    it('when a client sends 8 requests, then exactly 5 pass, with draft-8 headers, and the rest get 429 problem+json with Retry-After', async () => {
      const statuses: number[] = [];
      let last: request.Response | undefined;
      for (let i = 0; i < 8; i++) {
        last = await request(t.app).get('/api/v1/nowhere').set('X-Forwarded-For', '198.51.100.1');
        statuses.push(last.status);
        if (i === 0) {
          expect(last.headers.ratelimit).toMatch(/^"general"; r=4; t=(59|60)$/);
          expect(last.headers['ratelimit-policy']).toMatch(/^"general"; q=5; w=60(; pk=:[A-Za-z0-9+/=]+:)?$/);
        }
      }
      expect(statuses.filter((s) => s === 404)).toHaveLength(5);
      expect(statuses.slice(5)).toEqual([429, 429, 429]);
      expect(last!.headers['content-type']).toMatch(/problem\+json/);
      expect(Number(last!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(last!.headers['retry-after'])).toBeLessThanOrEqual(60);
    });

    it('when a client forges X-Forwarded-For entries in front of the proxy-added one, then its count is not reset', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        // nginx appends the real peer address; the client controls everything before it.
        const res = await request(t.app).get('/api/v1/nowhere').set('X-Forwarded-For', `10.9.8.${i}, 203.0.113.50`);
        statuses.push(res.status);
      }
      expect(statuses.filter((s) => s === 404)).toHaveLength(5);
      expect(statuses.slice(5)).toEqual([429, 429]);
    });

    it('when IPv6 clients share a /56, then they share a counter; another /56 has its own', async () => {
      const hit = (ip: string) => request(t.app).get('/api/v1/nowhere').set('X-Forwarded-For', ip);
      for (let i = 0; i < 5; i++)
        expect((await hit(`2001:db8:aa:bb${String(i).padStart(2, '0')}::${i + 1}`)).status).toBe(404);
      expect((await hit('2001:db8:aa:bbff::99')).status).toBe(429);
      expect((await hit('2001:db8:aa:cc00::1')).status).toBe(404);
    });
  });

  describe('general tier, 5 per 2 s, across window boundaries', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp(__filename, { RATE_LIMIT_GENERAL: '5/2', TRUST_PROXY: '1' });
    });
    afterAll(() => t.close());

    it('when requests straddle window boundaries, then no window of 2 s ever admitted more than 5', async () => {
      // Admission times as the limiter saw them: the Redis-server time it logged each admitted
      // request under (the newest entry of the client's sliding log), not client-side clocks.
      const key = 'rl:general:ip:198.51.100.77';
      const admitted: number[] = [];
      let requests = 0;
      while (admitted.length < 12) {
        const res = await request(t.app).get('/api/v1/nowhere').set('X-Forwarded-For', '198.51.100.77');
        requests++;
        if (res.status === 404) {
          const [, score] = await t.container.redis.zrange(key, -1, -1, 'WITHSCORES');
          admitted.push(Number(score));
        } else expect(res.status).toBe(429);
        // Spread the requests over the window instead of hammering it.
        await new Promise((r) => setTimeout(r, 40));
      }
      expect(requests).toBeGreaterThan(admitted.length);
      for (const start of admitted)
        expect(admitted.filter((x) => x >= start && x < start + 2000).length).toBeLessThanOrEqual(5);
    }, 60_000);
  });

  describe('auth tier, 5 per 15 minutes', () => {
    let t: TestApp;
    const clock = new TestClock();
    beforeAll(async () => {
      t = await buildTestApp(__filename, { TRUST_PROXY: '1', BCRYPT_COST: '10' }, { now: clock.now });
      await createUser(t, 'ratelimited@example.com');
    });
    afterAll(() => t.close());

    it('when the 6th login try comes within 15 minutes, then 429 with Retry-After; another account from the same IP is unaffected', async () => {
      const tryLogin = (email: string, password: string, ip = '192.0.2.10') =>
        request(t.app).post('/api/v1/auth/login').set('X-Forwarded-For', ip).send({ email, password });
      for (let i = 0; i < 5; i++) {
        const res = await tryLogin('someone@example.com', `wrong-password-${i}`);
        // The first tries are plain failures; from the 4th the per-(account, IP) guard asks for a short pause.
        if (res.status === 429) expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(2);
        else expect(res.status).toBe(401);
      }
      const sixth = await tryLogin('someone@example.com', 'wrong-password-x');
      expect(sixth.status).toBe(429);
      expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(800);
      expect(sixth.body.type).toMatch(/rate-limited/);
      expect(sixth.body.detail).toMatch(/\(auth\)/);
      expect((await tryLogin('ratelimited@example.com', PASSWORD)).status).toBe(200);
    });

    it('when a login succeeds, then the auth counter of that IP and account is cleared', async () => {
      const tryLogin = (password: string) =>
        request(t.app)
          .post('/api/v1/auth/login')
          .set('X-Forwarded-For', '192.0.2.99')
          .send({ email: 'ratelimited@example.com', password });
      for (let i = 0; i < 3; i++) expect((await tryLogin(`wrong-password-${i}`)).status).toBe(401);
      clock.advance(1100); // past the login guard's first pause after 3 failures
      expect((await tryLogin(PASSWORD)).status).toBe(200);
      // Without the reset these would exhaust the 5 allowed: 3 + 1 + 3 > 5.
      for (let i = 0; i < 3; i++) expect((await tryLogin(`wrong-again-${i}`)).status).not.toBe(429);
    });
  });

  describe('auth tier on signed-in re-authentication routes', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp(__filename, { TRUST_PROXY: '1', BCRYPT_COST: '10', RATE_LIMIT_AUTH: '3/900' });
    });
    afterAll(() => t.close());

    it('when one colleague exhausts the tier behind a shared office address, then another signed in from that address is unaffected', async () => {
      const alice = await mfaSession(t, await createUser(t, 'alice@corp.example'));
      const bob = await mfaSession(t, await createUser(t, 'bob@corp.example'));
      const change = (token: string) =>
        request(t.app)
          .post('/api/v1/auth/password')
          .set('X-Forwarded-For', '198.51.100.50')
          .set(...bearer(token))
          .send({ currentPassword: 'not-my-password-1', newPassword: 'another-long-passphrase-42' });
      for (let i = 0; i < 3; i++) expect((await change(alice)).status).toBe(403);
      const limited = await change(alice);
      expect(limited.status).toBe(429);
      expect(limited.body.detail).toMatch(/\(auth\)/);
      expect((await change(bob)).status).toBe(403);
    });
  });

  describe('when Redis is unreachable', () => {
    let t: TestApp;
    beforeAll(async () => {
      const closed = await freePort();
      t = await buildTestApp(__filename, { REDIS_URL: `redis://127.0.0.1:${closed}` });
    });
    afterAll(() => t.close());

    it('then the general tier fails open, the auth tier fails closed with 503 and Retry-After, each logged once', async () => {
      expect((await request(t.app).get('/api/v1/nowhere')).status).toBe(404);
      expect((await request(t.app).get('/api/v1/nowhere')).status).toBe(404);
      const login = await request(t.app)
        .post('/api/v1/auth/login')
        .send({ email: 'a@example.com', password: 'whatever-password' });
      expect(login.status).toBe(503);
      expect(Number(login.headers['retry-after'])).toBeGreaterThan(0);
      expect(login.headers['content-type']).toMatch(/problem\+json/);
      t.logger.flush();
      const outages = t.logs.records().filter((r) => r.msg === 'rate-limit store unreachable');
      expect(outages.map((r) => r.tier).sort()).toEqual(['auth', 'general']);
    }, 20_000);
  });
});
