import { createHash } from 'node:crypto';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';

/** The partition key express-rate-limit advertises: base64 of the first 12 hex characters of SHA-256(key). */
const partitionKey = (key: string): string =>
  Buffer.from(createHash('sha256').update(key).digest('hex').slice(0, 12)).toString('base64');

describe('rate-limit headers as docs/RATE_LIMITING.md shows them', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { RATE_LIMIT_GENERAL: '100/60', RATE_LIMIT_AUTH: '5/900', TRUST_PROXY: '1' });
  });
  afterAll(() => t.close());

  it('when a plain API call passes the general tier, then RateLimit-Policy names it with q, w and a pk', async () => {
    const res = await request(t.app).get('/api/v1/nowhere').set('X-Forwarded-For', '198.51.100.31');
    expect(res.headers.ratelimit).toMatch(/^"general"; r=99; t=\d+$/);
    expect(res.headers['ratelimit-policy']).toMatch(/^"general"; q=100; w=60; pk=:[A-Za-z0-9+/=]+:$/);
  });

  it('when a login passes two tiers, then each header carries one entry per tier, general first, with distinct pks', async () => {
    const res = await request(t.app)
      .post('/api/v1/auth/login')
      .set('X-Forwarded-For', '198.51.100.32')
      .send({ email: 'nobody@example.test', password: 'not the password' });
    expect(res.status).toBe(401);
    expect(res.headers.ratelimit).toMatch(/^"general"; r=99; t=\d+, "auth"; r=4; t=\d+$/);
    const policy = String(res.headers['ratelimit-policy']);
    const m = /^"general"; q=100; w=60; pk=:([^:]+):, "auth"; q=5; w=900; pk=:([^:]+):$/.exec(policy);
    expect(m).not.toBeNull();
    expect(m![1]).not.toBe(m![2]);
    expect(m![1]).toHaveLength(partitionKey('x').length);
  });
});
