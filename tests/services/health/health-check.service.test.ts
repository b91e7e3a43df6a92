import request from 'supertest';
import type { CommandStartedEvent } from 'mongodb';
import { buildTestApp, TestClock, type TestApp } from '../../support/app';
import { bearer, createUser, mfaSession } from '../../support/users';
import { expectedIndexes } from '../../../src/services/health/checks/collections.check';

describe('HealthCheckService in the app', () => {
  let t: TestApp;
  const clock = new TestClock();
  let adminToken: string;
  let userToken: string;
  const commands: string[] = [];

  beforeAll(async () => {
    t = await buildTestApp(
      __filename,
      {
        BCRYPT_COST: '10',
        HEALTH_SAMPLE_INTERVAL_MS: '3600000',
        HEALTH_SNAPSHOT_INTERVAL_MS: '60000',
        HEALTH_HISTORY_RETENTION_DAYS: '7',
        MONGODB_MONITOR_COMMANDS: 'true',
        // Latency limits no loaded CI machine reaches: the history test asserts every sample passed.
        HEALTH_DB_LATENCY_MS: '10000/20000',
      },
      { now: clock.now },
    );
    t.container.database.connection
      .getClient()
      .on('commandStarted', (ev: CommandStartedEvent) => commands.push(ev.commandName));
    adminToken = await mfaSession(t, await createUser(t, 'admin@svc.example', 'admin'));
    userToken = await mfaSession(t, await createUser(t, 'user@svc.example', 'user'));
  });
  afterAll(() => t.close());

  const health = () => t.container.deps.operations.health;

  it('when /health/ready is called many times within a second, then MongoDB is pinged once; a second later, once more', async () => {
    clock.freeze();
    try {
      clock.advance(5_000);
      commands.length = 0;
      const statuses = await Promise.all(
        Array.from({ length: 30 }, async () => (await request(t.app).get('/health/ready')).status),
      );
      for (let i = 0; i < 20; i++) statuses.push((await request(t.app).get('/health/ready')).status);
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(commands.filter((c) => c === 'ping')).toHaveLength(1);
      clock.advance(999);
      await request(t.app).get('/health/ready');
      expect(commands.filter((c) => c === 'ping')).toHaveLength(1);
      clock.advance(1);
      await request(t.app).get('/health/ready');
      expect(commands.filter((c) => c === 'ping')).toHaveLength(2);
    } finally {
      clock.thaw();
    }
  });

  it('when an index a model declares is missing, then mongodb:collections warns and the admin view names it with advice', async () => {
    const db = t.container.database.db();
    const wanted = expectedIndexes(t.container.database).indexes.find((i) => i.collection === 'invoices');
    expect(wanted).toBeDefined();
    const actual = await db.collection('invoices').listIndexes().toArray();
    const existing = actual.find((i) => JSON.stringify(i.key) === JSON.stringify(wanted!.key));
    expect(existing).toBeDefined();
    await db.collection('invoices').dropIndex(existing!.name as string);
    try {
      await health().sampleNow();
      const body = JSON.parse(
        (
          await request(t.app)
            .get('/health')
            .set(...bearer(adminToken))
        ).text,
      );
      const [check] = body.checks['mongodb:collections'];
      expect(check.status).toBe('warn');
      expect(check.output).toContain(`index invoices.${wanted!.name} is missing`);
      expect(body.recommendations).toContainEqual(
        expect.objectContaining({
          rule: 'missing-index',
          advice: expect.stringContaining(`Collection invoices lacks index ${wanted!.name}`),
        }),
      );
    } finally {
      await t.container.database.syncIndexes();
    }
    await health().sampleNow();
    expect(health().report().checks['mongodb:collections'][0].status).toBe('pass');
  });

  it('when samples are taken over minutes, then history gives min/avg/p95/max per interval, from memory and from MongoDB', async () => {
    clock.freeze();
    try {
      clock.advance(10 * 60_000);
      const start = clock.now();
      for (let i = 0; i < 8; i++) {
        await health().sampleNow();
        clock.advance(30_000);
      }
      const since = start.toISOString();
      const res = await request(t.app)
        .get(`/api/v1/health/history?component=mongodb:responseTime&since=${since}&interval=60`)
        .set(...bearer(adminToken));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ component: 'mongodb:responseTime', source: 'memory', intervalSeconds: 60 });
      const [series] = res.body.series;
      expect(series.check).toBe('mongodb:responseTime');
      expect(series.unit).toBe('ms');
      expect(series.buckets).toHaveLength(4);
      for (const b of series.buckets) {
        expect(b.samples).toBe(2);
        expect(b.min).toBeLessThanOrEqual(b.avg);
        expect(b.avg).toBeLessThanOrEqual(b.p95);
        expect(b.p95).toBeLessThanOrEqual(b.max);
        expect(b.worst).toBe('pass');
      }

      // One snapshot a minute went to MongoDB; older than the ring reaches, history reads them.
      const stored = await t.container.models.HealthSample.find({ at: { $gte: start } }).lean();
      expect(stored).toHaveLength(4);
      const old = await request(t.app)
        .get(
          `/api/v1/health/history?component=mongodb&since=${new Date(start.getTime() - 86_400_000 * 2).toISOString()}&interval=3600`,
        )
        .set(...bearer(adminToken));
      expect(old.status).toBe(200);
      expect(old.body.source).toBe('database');
      const keys = old.body.series.map((s: { check: string }) => s.check);
      expect(keys).toEqual(expect.arrayContaining(['mongodb:responseTime', 'mongodb:poolWaiting']));
    } finally {
      clock.thaw();
    }
  });

  it('when history is asked anonymously, without the permission or with bad input, then 401, 403, 400', async () => {
    expect((await request(t.app).get('/api/v1/health/history?component=mongodb')).status).toBe(401);
    expect(
      (
        await request(t.app)
          .get('/api/v1/health/history?component=mongodb')
          .set(...bearer(userToken))
      ).status,
    ).toBe(403);
    for (const q of ['component=$where', 'component=mongodb&interval=0', 'component=mongodb&since=yesterday', 'x=1'])
      expect(
        (
          await request(t.app)
            .get(`/api/v1/health/history?${q}`)
            .set(...bearer(adminToken))
        ).status,
      ).toBe(400);
  });

  it('when the retention job runs, then stored samples older than the retention are deleted and newer ones kept', async () => {
    const now = clock.now();
    const model = t.container.models.HealthSample;
    await model.create([
      { at: new Date(now.getTime() - 8 * 86_400_000), instance: 'old', status: 'pass', checks: [] },
      { at: new Date(now.getTime() - 6 * 86_400_000), instance: 'recent', status: 'pass', checks: [] },
    ]);
    const deleted = await health().purgeExpired();
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(await model.countDocuments({ instance: 'old' })).toBe(0);
    expect(await model.countDocuments({ instance: 'recent' })).toBe(1);
  });
});
