import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../../support/app';
import { EndpointCheck } from '../../../src/services/health/checks/endpoint.check';

/** A loopback dependency whose answer delay and status the test sets. */
async function startSlowPeer(): Promise<{
  url: string;
  set(delayMs: number, status?: number): void;
  close(): Promise<void>;
}> {
  let delay = 0;
  let status = 200;
  const pending = new Set<NodeJS.Timeout>();
  const server = http.createServer((_req, res) => {
    const timer = setTimeout(() => {
      pending.delete(timer);
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    }, delay);
    pending.add(timer);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/status`,
    set(d, s = 200) {
      delay = d;
      status = s;
    },
    async close() {
      for (const t of pending) clearTimeout(t);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('EndpointCheck', () => {
  let peer: Awaited<ReturnType<typeof startSlowPeer>>;
  beforeAll(async () => {
    peer = await startSlowPeer();
  });
  afterAll(() => peer.close());

  it('when the dependency answers fast, slowly, too slowly or wrongly, then pass, warn, fail (timeout), fail (status)', async () => {
    const check = new EndpointCheck({
      name: 'billing',
      url: peer.url,
      expectedStatus: 200,
      timeoutMs: 1_500,
      warnMs: 500,
    });
    peer.set(0);
    await check.run(); // the first fetch also sets up the HTTP client
    const [fast] = await check.run();
    expect(fast).toMatchObject({ component: 'endpoint.billing', measurement: 'responseTime', status: 'pass' });

    peer.set(800);
    const [slow] = await check.run();
    expect(slow).toMatchObject({ status: 'warn', output: 'slower than 500 ms' });
    expect(slow.observedValue).toBeGreaterThanOrEqual(800);

    peer.set(4_000);
    const started = Date.now();
    const [late] = await check.run();
    expect(late).toMatchObject({ status: 'fail', output: 'no answer within 1500 ms' });
    expect(Date.now() - started).toBeLessThan(3_500);

    peer.set(0, 502);
    const [wrong] = await check.run();
    expect(wrong).toMatchObject({ status: 'fail', output: 'answered 502, expected 200' });
  }, 20_000);

  describe('configured through HEALTH_ENDPOINTS in the app', () => {
    let t: TestApp;
    beforeAll(async () => {
      peer.set(0);
      t = await buildTestApp(__filename, {
        HEALTH_SAMPLE_INTERVAL_MS: '3600000',
        HEALTH_ENDPOINTS: `billing=${peer.url}|200|1500|500`,
      });
    });
    afterAll(() => t.close());

    const billing = async (): Promise<string> => {
      await t.container.deps.operations.health.sampleNow();
      const body = JSON.parse((await request(t.app).get('/health')).text);
      return body.checks['endpoint.billing:responseTime'][0].status;
    };

    it('when the dependency slows down and then stops answering in time, then /health shows pass, warn, then fail', async () => {
      expect(await billing()).toBe('pass');
      peer.set(800);
      expect(await billing()).toBe('warn');
      peer.set(4_000);
      expect(await billing()).toBe('fail');
      expect((await request(t.app).get('/health')).status).toBe(503);
      // Not a critical dependency: readiness does not depend on it.
      expect((await request(t.app).get('/health/ready')).status).toBe(200);
    }, 30_000);
  });
});
