import { buildTestApp, type TestApp } from '../support/app';
import { testMongoUri } from '../support/env';
import { Database } from '../../src/lib/database';
import { loadConfig } from '../../src/config';

describe('Database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

  it('when collections hold documents, then stats() reports dbStats and per-collection counts and sizes', async () => {
    const db = t.container.database.connection.db!;
    await db.collection('widgets').insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await db.collection('gadgets').insertOne({ n: 1 });
    const stats = await t.container.database.stats();
    expect(stats.db).toBe(t.dbName);
    expect(stats.objects).toBeGreaterThanOrEqual(4);
    const byName = Object.fromEntries(stats.perCollection.map((c) => [c.name, c]));
    expect(byName.widgets.count).toBe(3);
    expect(byName.gadgets.count).toBe(1);
    expect(byName.widgets.sizeBytes).toBeGreaterThan(0);
  });

  it('when connected with default settings, then the driver really uses pool 5-10 (1 here), retryable writes and w:majority; production turns autoIndex off', async () => {
    const client = t.container.database.connection.getClient();
    const o = client.options as unknown as {
      minPoolSize: number;
      maxPoolSize: number;
      retryWrites: boolean;
      writeConcern?: { w?: unknown };
    };
    expect(o.maxPoolSize).toBe(10);
    expect(o.minPoolSize).toBe(1); // tests set MONGODB_MIN_POOL_SIZE=1; the default of 5 is checked below
    expect(o.retryWrites).toBe(true);
    expect(o.writeConcern?.w).toBe('majority');
    expect(t.container.database.connection.get('autoIndex')).toBe(true);
    const prod = new Database(
      { ...loadConfig({ NODE_ENV: 'development', MONGODB_URI: testMongoUri(t.dbName) }).mongodb, autoIndex: false },
      t.logger,
    );
    try {
      const po = prod.connection.getClient().options as unknown as { minPoolSize: number };
      expect(po.minPoolSize).toBe(5);
      expect(prod.connection.get('autoIndex')).toBe(false);
    } finally {
      await prod.close();
    }
  });

  it('when the pool has been used, then monitoring has counted connections and a heartbeat', async () => {
    await t.container.database.ping(1000);
    const pool = t.container.database.pool;
    expect(pool.connectionsCreated).toBeGreaterThan(0);
    expect(pool.checkOutFailures).toBe(0);
  });

  it('when indexes are synchronised, then declared unique indexes exist on the server', async () => {
    await t.container.database.syncIndexes();
    const indexes = await t.container.database.connection.db!.collection('audit_events').indexes();
    expect(indexes.find((i) => i.key.seq === 1)?.unique).toBe(true);
  });
});
