import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';

describe('CORS allow-list (through the real app)', () => {
  let t: TestApp;
  const ALLOWED = 'https://erp.example.com';
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      CORS_ORIGINS: `${ALLOWED},https://admin.example.com`,
      CORS_MAX_AGE_SECONDS: '900',
    });
  });
  afterAll(() => t.close());

  it('when an allowed origin calls with credentials, then its exact origin and credentials are allowed and headers exposed', async () => {
    const res = await request(t.app).get('/api/v1/nowhere').set('Origin', ALLOWED).set('Cookie', 'x=1');
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-expose-headers']).toMatch(/RateLimit/);
    expect(res.headers['access-control-expose-headers']).toMatch(/X-Request-Id/);
    expect(res.headers.vary).toMatch(/Origin/);
  });

  it.each([
    ['a foreign origin', 'https://evil.example.net'],
    ['the null origin', 'null'],
    ['a lookalike suffix', 'https://erp.example.com.evil.net'],
    ['another scheme', 'http://erp.example.com'],
  ])(
    'when %s calls, with or without credentials, then no CORS header at all and a warning is logged',
    async (_n, origin) => {
      for (const withCreds of [false, true]) {
        const req = request(t.app).get('/api/v1/nowhere').set('Origin', origin);
        if (withCreds) req.set('Cookie', 'sid=1');
        const res = await req;
        expect(res.headers['access-control-allow-origin']).toBeUndefined();
        expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      }
      t.logger.flush();
      expect(
        t.logs
          .records()
          .some((r) => r.msg === 'cross-origin request from an origin that is not allowed' && r.origin === origin),
      ).toBe(true);
    },
  );

  it('when an allowed origin sends a preflight, then 204 with methods, headers and Max-Age', async () => {
    const res = await request(t.app)
      .options('/api/v1/auth/login')
      .set('Origin', ALLOWED)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type,authorization');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(res.headers['access-control-allow-methods']).toMatch(/POST/);
    expect(res.headers['access-control-allow-headers']).toMatch(/Authorization/);
    expect(res.headers['access-control-max-age']).toBe('900');
  });

  it('when a disallowed origin sends a preflight, then it is refused without CORS headers', async () => {
    const res = await request(t.app)
      .options('/api/v1/auth/login')
      .set('Origin', 'null')
      .set('Access-Control-Request-Method', 'POST');
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['content-type']).toMatch(/problem\+json/);
  });
});
