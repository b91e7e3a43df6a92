import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import type { Express } from 'express';
import type { TestApp } from '../support/app';
import { bearer, createUser, mfaSession } from '../support/users';
import { waitFor } from '../support/process';
import { accessTokenOf, twoProcessesWithOwnRedis, type TwoProcesses } from '../support/two-processes';
import type { Container } from '../../src/container';

/**
 * Revocation must survive Redis losing its data: MongoDB is the source of truth. This file
 * runs its own redis-server (no persistence) so it can flush and restart it, and a second
 * "process" (another container on the same database and Redis) to show a revocation
 * reaches every process.
 */
describe('durable session revocation', () => {
  let p: TwoProcesses;
  let t: TestApp;
  let other: Container;
  let appB: Express;

  beforeAll(async () => {
    p = await twoProcessesWithOwnRedis(__filename);
    ({ t, other, appB } = p);
  }, 60_000);
  afterAll(() => p.close());

  const me = (app: Express, token: string) =>
    request(app)
      .get('/api/v1/auth/me')
      .set(...bearer(token));
  const signIn = (email: string): Promise<string> => accessTokenOf(t, email);
  const bothReady = (): Promise<void> =>
    waitFor(
      () => t.container.redis.status === 'ready' && other.redis.status === 'ready',
      20_000,
      'both processes reconnected to Redis',
    );
  const restartRedis = async (): Promise<void> => {
    await p.stopRedis();
    await p.startRedis();
    await bothReady();
  };

  it('when a user logs out and Redis then loses everything (FLUSHALL, then a restart without persistence), then the logged-out token stays refused and a live session still works', async () => {
    await createUser(t, 'lena@revocation.example');
    const out = await signIn('lena@revocation.example');
    const keep = await signIn('lena@revocation.example');
    for (const app of [t.app, appB]) expect((await me(app, out)).status).toBe(200);

    const res = await request(t.app)
      .post('/api/v1/auth/logout')
      .set(...bearer(out));
    expect(res.status).toBe(204);
    for (const app of [t.app, appB]) expect((await me(app, out)).status).toBe(401);

    await t.container.redis.flushall();
    for (const app of [t.app, appB]) {
      const after = await me(app, out);
      expect(after.status).toBe(401);
      expect(after.body.type).toMatch(/session-revoked$/);
      expect((await me(app, keep)).status).toBe(200);
    }
    // The cache knew it was cold and warmed itself again.
    expect(await t.container.redis.exists('sess:epoch')).toBe(1);
    const sessionKeys = () => t.container.redis.keys(`${t.config.redis.keyPrefix}sess:*`);
    expect(await sessionKeys()).toContain(`${t.config.redis.keyPrefix}sess:epoch`);

    await restartRedis();
    // Nothing of the sessions survived (other background work, e.g. the "Redis is back" alert's
    // delivery claim, may already have written its own keys by now).
    expect(await sessionKeys()).toEqual([]);
    for (const app of [t.app, appB]) {
      expect((await me(app, out)).status).toBe(401);
      expect((await me(app, keep)).status).toBe(200);
    }
  }, 60_000);

  it('when an admin disables a user, then their token is refused at once in every process, also after a Redis flush', async () => {
    const admin = await mfaSession(t, await createUser(t, 'root@revocation.example', 'admin', 'it'));
    const userId = await createUser(t, 'mira@revocation.example');
    const token = await signIn('mira@revocation.example');
    // Both processes have seen (and cached) the session as live.
    for (const app of [t.app, appB]) expect((await me(app, token)).status).toBe(200);

    const res = await request(t.app)
      .patch(`/api/v1/users/${userId}`)
      .set(...bearer(admin))
      .send({ status: 'disabled' });
    expect(res.status).toBe(200);
    for (const app of [appB, t.app]) expect((await me(app, token)).status).toBe(401);

    await other.redis.flushall();
    for (const app of [appB, t.app]) expect((await me(app, token)).status).toBe(401);
  }, 30_000);

  it('when a validly signed token names a session id that does not exist, or the session of another user, then it is refused', async () => {
    const userId = await createUser(t, 'ola@revocation.example');
    const victimId = await createUser(t, 'pia@revocation.example');
    const { session: victimSession } = await t.container.sessions.create(victimId, false);
    if (t.config.jwt.algorithm !== 'HS256') throw new Error('the test config signs with HS256');
    const key = t.config.jwt.secret.reveal();
    const forge = (sid: string): string =>
      jwt.sign({ typ: 'access', sid, role: 'user', dept: null, mfa: true }, key, {
        algorithm: 'HS256',
        expiresIn: t.config.auth.accessTtlSeconds,
        issuer: t.config.auth.issuer,
        audience: t.config.auth.audience,
        subject: userId,
        jwtid: randomUUID(),
      });
    for (const sid of [randomUUID(), victimSession._id]) {
      for (const app of [t.app, appB]) {
        const res = await me(app, forge(sid));
        expect(res.status).toBe(401);
        expect(res.body.type).toMatch(/invalid-token$/);
      }
    }
  }, 30_000);

  it('when Redis is unreachable, then bearer requests are refused with 503 (fail closed), and accepted again once it is back', async () => {
    await createUser(t, 'quinn@revocation.example');
    const token = await signIn('quinn@revocation.example');
    expect((await me(t.app, token)).status).toBe(200);
    await p.stopRedis();
    await waitFor(() => t.container.redis.status !== 'ready', 10_000, 'the client to notice Redis is gone');
    const res = await me(t.app, token);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    await p.startRedis();
    await bothReady();
    expect((await me(t.app, token)).status).toBe(200);
  }, 60_000);
});
