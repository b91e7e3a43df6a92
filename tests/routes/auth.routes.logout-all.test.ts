import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { bearer, createUser, login } from '../support/users';

interface Pair {
  accessToken: string;
  refreshToken: string;
}

describe('POST /api/v1/auth/logout-all', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      MFA_REQUIRED_ROLES: 'manager',
      RATE_LIMIT_AUTH: '1000/900',
      RATE_LIMIT_GENERAL: '10000/60',
    });
  });
  afterAll(() => t.close());

  const signIn = async (email: string): Promise<Pair> => {
    const res = await login(t, email);
    expect(res.status).toBe(200);
    return res.body as Pair;
  };
  const me = (p: Pair) =>
    request(t.app)
      .get('/api/v1/auth/me')
      .set(...bearer(p.accessToken));
  const refresh = (p: Pair) => request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: p.refreshToken });

  it('when a user logs out everywhere, then every session of theirs ends at once (refreshed ones too), another user is untouched, and a new sign-in works', async () => {
    const aliceId = await createUser(t, 'alice@sessions.example');
    await createUser(t, 'bob@sessions.example');
    const laptop = await signIn('alice@sessions.example');
    const phone = await signIn('alice@sessions.example');
    const tabletFirst = await signIn('alice@sessions.example');
    // A session whose tokens were refreshed: both its old access token and its newest refresh token must die.
    const renewed = await refresh(tabletFirst);
    expect(renewed.status).toBe(200);
    const tablet: Pair = renewed.body as Pair;
    const bob = await signIn('bob@sessions.example');
    for (const p of [laptop, phone, tabletFirst, tablet, bob]) expect((await me(p)).status).toBe(200);

    const out = await request(t.app)
      .post('/api/v1/auth/logout-all')
      .set(...bearer(phone.accessToken));
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ sessionsEnded: 3 });

    // No waiting for the 15-minute access-token expiry: refused on the very next request.
    const afterMe = await Promise.all([laptop, phone, tabletFirst, tablet].map(me));
    expect(afterMe.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    for (const r of afterMe) expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    const afterRefresh = await Promise.all([laptop, phone, tablet].map(refresh));
    expect(afterRefresh.map((r) => r.status)).toEqual([401, 401, 401]);
    expect(afterRefresh.every((r) => r.body.accessToken === undefined)).toBe(true);

    expect((await me(bob)).status).toBe(200);
    expect((await refresh(bob)).status).toBe(200);

    const again = await signIn('alice@sessions.example');
    expect((await me(again)).status).toBe(200);
    expect(
      await t.container.database.db().collection('sessions').countDocuments({ userId: aliceId, revokedAt: null }),
    ).toBe(1);
  });

  it('when logging out everywhere, then the calling session ends too: a second call with another old token is 401', async () => {
    await createUser(t, 'twice@sessions.example');
    const a = await signIn('twice@sessions.example');
    const b = await signIn('twice@sessions.example');
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/logout-all')
          .set(...bearer(a.accessToken))
      ).body,
    ).toEqual({ sessionsEnded: 2 });
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/logout-all')
          .set(...bearer(b.accessToken))
      ).status,
    ).toBe(401);
  });

  it('when a user who still has to enroll in 2FA logs out everywhere, then it is allowed and their sessions end', async () => {
    await createUser(t, 'enrolling@sessions.example', 'manager', 'sales');
    const a = await signIn('enrolling@sessions.example');
    const b = await signIn('enrolling@sessions.example');
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/session')
          .set(...bearer(a.accessToken))
      ).body,
    ).toMatchObject({ enrollmentRequired: true });
    const out = await request(t.app)
      .post('/api/v1/auth/logout-all')
      .set(...bearer(b.accessToken));
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ sessionsEnded: 2 });
    expect((await me(a)).status).toBe(401);
    expect((await refresh(a)).status).toBe(401);
  });

  it('when no token is presented, then 401 problem+json', async () => {
    const res = await request(t.app).post('/api/v1/auth/logout-all');
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
