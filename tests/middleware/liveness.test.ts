import http from 'node:http';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { withLivenessAnswer } from '../../src/middleware/liveness';
import { securityHeaderList } from '../../src/middleware/security-headers';

/**
 * GET /health/live is answered before the middleware chain (src/middleware/liveness.ts). Its
 * answer must be the one the routed handler gives: a cross-origin request (Origin header)
 * still takes the routed path, so the two can be compared header by header.
 */
describe('liveness fast path', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { HSTS_ENABLED: 'true', CORS_ORIGINS: 'https://erp.example.com' });
  });
  afterAll(() => t.close());

  /** The headers that differ per response by nature. */
  const comparable = (res: request.Response): Record<string, unknown> => {
    const { date: _date, 'x-request-id': _id, connection: _c, 'keep-alive': _k, ...rest } = res.headers;
    return rest;
  };

  it('when /health/live is polled, then the fast answer has the same status, body and headers as the routed one', async () => {
    const fast = await request(t.app).get('/health/live');
    // Not an allowed origin: the routed path adds no CORS headers, so the answers must be equal.
    const routed = await request(t.app).get('/health/live').set('Origin', 'https://elsewhere.example');
    expect(routed.status).toBe(200);
    expect(fast.status).toBe(200);
    expect(fast.text).toBe(routed.text);
    expect(JSON.parse(fast.text)).toEqual({ status: 'pass' });
    expect(comparable(fast)).toEqual(comparable(routed));
    expect(fast.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(fast.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('when the caller sends a well-formed X-Request-Id, then the fast answer echoes it; a malformed one is replaced', async () => {
    expect((await request(t.app).get('/health/live').set('X-Request-Id', 'lb-probe-42')).headers['x-request-id']).toBe(
      'lb-probe-42',
    );
    expect((await request(t.app).get('/health/live').set('X-Request-Id', 'bad id!')).headers['x-request-id']).toMatch(
      /^[0-9a-f-]{36}$/,
    );
  });

  it('when probes are answered by the fast path, then they are counted in the request metric under the route', async () => {
    const before = await t.container.deps.operations.metrics.registry.getSingleMetricAsString(
      'http_request_duration_seconds',
    );
    const countOf = (text: string): number =>
      Number(
        /http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_code="200"\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    await request(t.app).get('/health/live');
    await request(t.app).get('/health/live');
    const after = await t.container.deps.operations.metrics.registry.getSingleMetricAsString(
      'http_request_duration_seconds',
    );
    expect(countOf(after) - countOf(before)).toBe(2);
  });

  it('when the probe comes with another method, then the routed path answers as before', async () => {
    expect((await request(t.app).post('/health/live').send({})).status).toBe(405);
    expect((await request(t.app).head('/health/live')).status).toBe(200);
  });

  it('when the listening server answers the probe before Express (src/server.ts), then the answer and metric are the same, and every other request reaches the app', async () => {
    const metrics = t.container.deps.operations.metrics;
    const server = http.createServer(
      withLivenessAnswer(t.app, {
        securityHeaders: securityHeaderList({ hsts: t.config.edge.hsts, hstsPreload: t.config.edge.hstsPreload }),
        metrics,
      }),
    );
    const count = async (): Promise<number> =>
      Number(
        /http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_code="200"\} (\d+)/.exec(
          await metrics.registry.getSingleMetricAsString('http_request_duration_seconds'),
        )?.[1] ?? 0,
      );
    const before = await count();
    const early = await request(server).get('/health/live').set('X-Request-Id', 'lb-probe-43');
    const routed = await request(t.app).get('/health/live').set('Origin', 'https://elsewhere.example');
    expect(early.status).toBe(200);
    expect(early.text).toBe(routed.text);
    expect(comparable(early)).toEqual(comparable(routed));
    expect(early.headers['x-request-id']).toBe('lb-probe-43');
    expect((await count()) - before).toBe(2);
    // Not the probe: Express answers, with its own chain.
    expect((await request(server).get('/health/live?verbose=1')).status).toBe(400);
    expect((await request(server).post('/health/live').send({})).status).toBe(405);
  });
});
