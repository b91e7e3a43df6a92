import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';

describe('GET /', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

  it('when anyone asks for the root, then 200 with the service name and links that resolve, no version or host', async () => {
    const res = await request(t.app).get('/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      service: 'erp-backend',
      links: {
        health: '/health',
        liveness: '/health/live',
        readiness: '/health/ready',
        api: '/api/v1',
        docs: '/api/docs',
      },
    });
    expect(res.text).not.toMatch(/version|\d+\.\d+\.\d+|127\.0\.0\.1|localhost/i);
    expect((await request(t.app).get('/api/docs')).status).toBe(200);
    for (const link of ['/health', '/health/live', '/health/ready'])
      expect([200, 503]).toContain((await request(t.app).get(link)).status);
  });

  it('when the root is asked with another method, then 405 problem+json with Allow, and nothing else is served under it', async () => {
    const res = await request(t.app).post('/').send({});
    expect(res.status).toBe(405);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers.allow).toMatch(/GET/);
    expect((await request(t.app).get('/index.html')).status).toBe(404);
  });
});
