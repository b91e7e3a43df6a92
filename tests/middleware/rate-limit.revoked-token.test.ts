import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { bearer, createUser, login } from '../support/users';

describe('general rate-limit tier and revoked tokens', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      RATE_LIMIT_GENERAL: '100/60',
      RATE_LIMIT_AUTH: '1000/900',
      TRUST_PROXY: '1',
      BCRYPT_COST: '10',
    });
  });
  afterAll(() => t.close());

  const OWNER_IP = '198.51.100.10';
  const ATTACKER_IP = '203.0.113.66';

  it("when 105 requests carry a logged-out token, then they spend the sender's address budget, not the owner's: the owner's fresh session is not limited", async () => {
    await createUser(t, 'rosa@ratelimit-revoked.example');
    const first = await login(t, 'rosa@ratelimit-revoked.example', undefined, OWNER_IP);
    expect(first.status).toBe(200);
    const stale = first.body.accessToken as string;
    const out = await request(t.app)
      .post('/api/v1/auth/logout')
      .set('X-Forwarded-For', OWNER_IP)
      .set(...bearer(stale));
    expect(out.status).toBe(204);

    const statuses: number[] = [];
    for (let i = 0; i < 105; i++) {
      const res = await request(t.app)
        .get('/api/v1/auth/me')
        .set('X-Forwarded-For', ATTACKER_IP)
        .set(...bearer(stale));
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 100).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(100)).toEqual([429, 429, 429, 429, 429]);

    const again = await login(t, 'rosa@ratelimit-revoked.example', undefined, OWNER_IP);
    expect(again.status).toBe(200);
    const fresh = await request(t.app)
      .get('/api/v1/auth/me')
      .set('X-Forwarded-For', OWNER_IP)
      .set(...bearer(again.body.accessToken as string));
    expect(fresh.status).toBe(200);
  }, 60_000);
});
