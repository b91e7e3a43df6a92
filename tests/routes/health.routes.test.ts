import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { waitFor } from '../support/wait';
import { bearer, createUser, mfaSession } from '../support/users';
import { RecordingAlerts } from '../support/recording-alerts';
import { startFerretDb, startRedis, freePort, type LocalService } from '../../scripts/local-services';

/** A loaded shared test machine must not turn the host checks red: these tests are about the datastores. */
const CALM_HOST = {
  HEALTH_CPU_LOAD_PER_CORE: '1000/2000',
  HEALTH_EVENT_LOOP_DELAY_MS: '10000/20000',
  HEALTH_MEMORY_PERCENT: '99/100',
  HEALTH_DISK_PERCENT: '99/100',
};

describe('health endpoints', () => {
  describe('with the shared test servers', () => {
    let t: TestApp;
    let adminToken: string;
    let userToken: string;
    beforeAll(async () => {
      t = await buildTestApp(__filename, { ...CALM_HOST, BCRYPT_COST: '10', HEALTH_SAMPLE_INTERVAL_MS: '3600000' });
      adminToken = await mfaSession(t, await createUser(t, 'admin@health.example', 'admin'));
      userToken = await mfaSession(t, await createUser(t, 'user@health.example', 'user'));
    });
    afterAll(() => t.close());

    it('when anonymous, then /health gives the overall status and check names with statuses only', async () => {
      const res = await request(t.app).get('/health');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/health\+json/);
      const body = JSON.parse(res.text);
      expect(Object.keys(body).sort()).toEqual(['checks', 'status']);
      expect(['pass', 'warn']).toContain(body.status);
      for (const name of ['mongodb:responseTime', 'redis:responseTime', 'process:eventLoopDelay', 'system:disk'])
        expect(body.checks[name]).toEqual([{ status: expect.stringMatching(/^(pass|warn)$/) }]);
      // No versions, hosts, latencies or counts anywhere in the text.
      expect(res.text).not.toMatch(/version|releaseId|observedValue|details|host|\d+\.\d+|127\.0\.0\.1/i);
      expect(res.text).not.toContain(os.hostname());
    });

    it('when an admin asks, then /health is the IETF detail view with versions, hosts and numbers', async () => {
      const res = await request(t.app)
        .get('/health')
        .set(...bearer(adminToken));
      expect(res.status).toBe(200);
      const body = JSON.parse(res.text);
      expect(body).toMatchObject({
        serviceId: 'erp-backend',
        releaseId: expect.any(String),
        version: expect.any(String),
      });
      expect(body.instance).toContain(os.hostname());
      const [mongo] = body.checks['mongodb:responseTime'];
      expect(mongo).toMatchObject({ componentType: 'datastore', observedUnit: 'ms', status: 'pass' });
      expect(typeof mongo.observedValue).toBe('number');
      expect(Date.parse(mongo.time)).not.toBeNaN();
      expect(body.checks['mongodb:topology'][0].details.hosts).toEqual([expect.stringContaining('127.0.0.1')]);
      expect(body.checks['redis:memory'][0].details.version).toMatch(/^\d+\.\d+/);
      expect(body.checks['mongodb:collections'][0].details.missingIndexes).toEqual([]);
      expect(Array.isArray(body.recommendations)).toBe(true);
    });

    it('when a caller without health:read:any or with a forged token asks, then the anonymous view (no 401)', async () => {
      for (const auth of [`Bearer ${userToken}`, 'Bearer aaa.bbb.ccc', 'Basic Zm9vOmJhcg==']) {
        const res = await request(t.app).get('/health').set('Authorization', auth);
        expect(res.status).toBe(200);
        expect(Object.keys(JSON.parse(res.text)).sort()).toEqual(['checks', 'status']);
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
    const alerts = new RecordingAlerts();

    beforeAll(async () => {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'erp-health-'));
      mongoPort = await freePort();
      redisPort = await freePort();
      mongo = await startFerretDb({ dataDir, port: mongoPort });
      redis = await startRedis({ port: redisPort });
      t = await buildTestApp(
        __filename,
        {
          ...CALM_HOST,
          MONGODB_URI: `mongodb://127.0.0.1:${mongoPort}/health_test`,
          REDIS_URL: `redis://127.0.0.1:${redisPort}`,
          HEALTH_CHECK_TIMEOUT_MS: '500',
          HEALTH_SAMPLE_INTERVAL_MS: '3600000',
          HEALTH_READY_PING_MIN_INTERVAL_MS: '100',
          HEALTH_ALERT_AFTER_SAMPLES: '2',
          MONGODB_SERVER_SELECTION_TIMEOUT_MS: '1000',
          MONGODB_HEARTBEAT_FREQUENCY_MS: '500',
        },
        { healthAlerts: alerts },
      );
    }, 60_000);
    afterAll(async () => {
      await t.close();
      await mongo.stop?.();
      await redis.stop?.();
    });

    const ready = async (): Promise<number> => (await request(t.app).get('/health/ready')).status;
    const sample = (): Promise<unknown> => t.container.deps.operations.health.sampleNow();
    const raisedFor = (subject: string) => alerts.raised.filter((a) => a.subject === subject);
    const resolvedFor = (subject: string) => alerts.resolved.filter((a) => a.subject === subject);

    it.each([
      [
        'MongoDB',
        'mongodb:responseTime',
        () => mongo,
        (s: LocalService) => (mongo = s),
        () => startFerretDb({ dataDir, port: mongoPort }),
      ],
      [
        'Redis',
        'redis:responseTime',
        () => redis,
        (s: LocalService) => (redis = s),
        () => startRedis({ port: redisPort }),
      ],
    ])(
      'when %s stops, then ready is 503, /health fails naming it and one alert is raised; when it returns, all recover and the alert is resolved',
      async (_name, check, current, replace, restart) => {
        expect(await ready()).toBe(200);
        await current().stop?.();
        await waitFor(async () => (await ready()) === 503, 20_000, 'ready to answer 503', 250);
        const readyBody = JSON.parse((await request(t.app).get('/health/ready')).text);
        expect(readyBody.checks[check]).toEqual([{ status: 'fail' }]);
        const res = await request(t.app).get('/health');
        expect(res.status).toBe(503);
        const body = JSON.parse(res.text);
        expect(body.status).toBe('fail');
        expect(body.checks[check]).toEqual([{ status: 'fail' }]);

        // Flap damping: one failing sample raises nothing, the second (HEALTH_ALERT_AFTER_SAMPLES=2) raises once.
        await sample();
        expect(raisedFor(check)).toHaveLength(0);
        await sample();
        await sample();
        expect(raisedFor(check)).toEqual([
          expect.objectContaining({ source: 'health', kind: 'health.threshold', subject: check, severity: 'critical' }),
        ]);

        replace(await restart());
        await waitFor(async () => (await ready()) === 200, 30_000, 'ready to answer 200 again', 250);
        await waitFor(
          async () => {
            await sample();
            return resolvedFor(check).length === 1;
          },
          30_000,
          'the alert to be resolved',
          250,
        );
        expect((await request(t.app).get('/health')).status).toBe(200);
        expect(raisedFor(check)).toHaveLength(1);
      },
      120_000,
    );
  });
});
