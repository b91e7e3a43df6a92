import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { waitFor } from '../support/wait';
import { startFerretDb, startRedis, freePort, type LocalService } from '../../scripts/local-services';

describe('health endpoints', () => {
  describe('with the shared test servers', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp(__filename);
    });
    afterAll(() => t.close());

    it('when everything is up, then /health answers pass in application/health+json with MongoDB and Redis checks', async () => {
      const res = await request(t.app).get('/health');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/health\+json/);
      const body = JSON.parse(res.text);
      expect(body.status).toBe('pass');
      for (const name of ['mongodb:responseTime', 'redis:responseTime']) {
        const [check] = body.checks[name];
        expect(check).toMatchObject({ componentType: 'datastore', observedUnit: 'ms', status: 'pass' });
        expect(typeof check.observedValue).toBe('number');
        expect(Date.parse(check.time)).not.toBeNaN();
      }
    });

    it('when asked for liveness, then 200 without touching the datastores', async () => {
      const res = await request(t.app).get('/health/live');
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({ status: 'pass' });
    });
  });

  describe('with its own MongoDB and Redis, stopped and restarted', () => {
    let mongo: LocalService;
    let redis: LocalService;
    let t: TestApp;
    let mongoPort: number;
    let redisPort: number;
    let dataDir: string;

    beforeAll(async () => {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'erp-health-'));
      mongoPort = await freePort();
      redisPort = await freePort();
      mongo = await startFerretDb({ dataDir, port: mongoPort });
      redis = await startRedis({ port: redisPort });
      t = await buildTestApp(__filename, {
        MONGODB_URI: `mongodb://127.0.0.1:${mongoPort}/health_test`,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        HEALTH_CHECK_TIMEOUT_MS: '500',
        MONGODB_SERVER_SELECTION_TIMEOUT_MS: '1000',
        MONGODB_HEARTBEAT_FREQUENCY_MS: '500',
      });
    }, 60_000);
    afterAll(async () => {
      await t.close();
      await mongo.stop?.();
      await redis.stop?.();
    });

    const ready = async (): Promise<number> => (await request(t.app).get('/health/ready')).status;

    it('when MongoDB stops, then ready is 503; when it returns, then ready is 200 again', async () => {
      expect(await ready()).toBe(200);
      await mongo.stop?.();
      await waitFor(async () => (await ready()) === 503, 20_000, 'ready to answer 503', 250);
      const res = await request(t.app).get('/health');
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text).checks['mongodb:responseTime'][0].status).toBe('fail');
      mongo = await startFerretDb({ dataDir, port: mongoPort });
      await waitFor(async () => (await ready()) === 200, 30_000, 'ready to answer 200 again', 250);
    }, 90_000);

    it('when Redis stops, then ready is 503; when it returns, then ready is 200 again', async () => {
      expect(await ready()).toBe(200);
      await redis.stop?.();
      await waitFor(async () => (await ready()) === 503, 20_000, 'ready to answer 503', 250);
      const res = await request(t.app).get('/health/ready');
      expect(JSON.parse(res.text).checks['redis:responseTime'][0].status).toBe('fail');
      redis = await startRedis({ port: redisPort });
      await waitFor(async () => (await ready()) === 200, 30_000, 'ready to answer 200 again', 250);
    }, 90_000);
  });
});
