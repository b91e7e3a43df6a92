import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { createUser, login, bearer } from '../support/users';

describe('security headers (through the real app)', () => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { HSTS_ENABLED: 'true', RATE_LIMIT_GENERAL: '3/60', BCRYPT_COST: '10' });
    await createUser(t, 'headers@example.com');
    token = (await login(t, 'headers@example.com')).body.accessToken;
  });
  afterAll(() => t.close());

  const expectHardened = (res: request.Response): void => {
    const h = res.headers;
    expect(h['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
    );
    expect(h['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(h['x-frame-options']).toBe('DENY');
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['cross-origin-opener-policy']).toBe('same-origin');
    expect(h['cross-origin-resource-policy']).toBe('same-origin');
    expect(h['cross-origin-embedder-policy']).toBe('require-corp');
    expect(h['permissions-policy']).toMatch(/camera=\(\)/);
    expect(h['permissions-policy']).toMatch(/geolocation=\(\)/);
    expect(h['permissions-policy']).toMatch(/microphone=\(\)/);
    expect(h['permissions-policy']).toMatch(/payment=\(\)/);
    expect(h['x-xss-protection']).toBe('0');
    expect(h['x-powered-by']).toBeUndefined();
    expect(h['cache-control']).toBe('no-store');
  };

  it('when an authenticated JSON route answers, then every security header is present', async () => {
    const res = await request(t.app)
      .get('/api/v1/auth/me')
      .set(...bearer(token));
    expect(res.status).toBe(200);
    expectHardened(res);
  });

  it('when a route does not exist, then the 404 carries them too', async () => {
    const res = await request(t.app)
      .get('/api/v1/nowhere')
      .set(...bearer(token));
    expect(res.status).toBe(404);
    expectHardened(res);
  });

  it('when the rate limit answers 429, then the problem carries them too', async () => {
    let res: request.Response | undefined;
    for (let i = 0; i < 5; i++)
      res = await request(t.app)
        .get('/api/v1/nowhere')
        .set(...bearer(token));
    expect(res!.status).toBe(429);
    expectHardened(res!);
  });

  it('when HSTS is not enabled (development), then no HSTS header is sent', async () => {
    const dev = await buildTestApp(__filename, { HSTS_ENABLED: 'false' });
    try {
      expect((await request(dev.app).get('/health/live')).headers['strict-transport-security']).toBeUndefined();
    } finally {
      await dev.close();
    }
  });

  it('when HSTS preload is configured, then the header asks for it', async () => {
    const preload = await buildTestApp(__filename, { HSTS_ENABLED: 'true', HSTS_PRELOAD: 'true' });
    try {
      expect((await request(preload.app).get('/health/live')).headers['strict-transport-security']).toBe(
        'max-age=31536000; includeSubDomains; preload',
      );
    } finally {
      await preload.close();
    }
  });
});
