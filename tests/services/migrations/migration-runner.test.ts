import mongoose, { type Connection } from 'mongoose';
import type { Db } from 'mongodb';
import { testMongoUri, testNamespace } from '../../support/env';
import {
  MIGRATIONS_COLLECTION,
  MigrationError,
  MigrationRunner,
  type Migration,
} from '../../../src/services/migrations/migration-runner';

/** Migrations that write real documents, so each step's effect is visible in the database. */
function widgets(log: string[]): Migration[] {
  return [
    {
      id: '0001-add-widgets',
      up: async (db) => {
        log.push('up 1');
        await db.collection('widgets').insertOne({ _id: 'w1' as never, size: 1 });
      },
      down: async (db) => {
        log.push('down 1');
        await db.collection('widgets').deleteOne({ _id: 'w1' as never });
      },
    },
    {
      id: '0002-grow-widgets',
      up: async (db) => {
        log.push('up 2');
        await db.collection('widgets').updateMany({}, { $set: { size: 2 } });
      },
      down: async (db) => {
        log.push('down 2');
        await db.collection('widgets').updateMany({}, { $set: { size: 1 } });
      },
    },
  ];
}

describe('MigrationRunner on FerretDB', () => {
  const ns = testNamespace(__filename);
  let conn: Connection;
  let db: Db;
  const ctx = { syncIndexes: async () => [] };
  const runner = (migrations: Migration[], by = 'test') => new MigrationRunner({ db, migrations, context: ctx, by });

  beforeAll(async () => {
    conn = await mongoose.createConnection(testMongoUri(ns.dbName)).asPromise();
    db = conn.db as Db;
  });
  beforeEach(async () => {
    await db.collection('widgets').deleteMany({});
    await db.collection(MIGRATIONS_COLLECTION).deleteMany({});
  });
  afterAll(async () => {
    await conn.dropDatabase();
    await conn.close();
  });

  it('when up runs twice, then each migration ran once in order and is recorded as applied', async () => {
    const log: string[] = [];
    expect(await runner(widgets(log).reverse()).up()).toEqual(['0001-add-widgets', '0002-grow-widgets']);
    expect(await runner(widgets(log)).up()).toEqual([]);
    expect(log).toEqual(['up 1', 'up 2']);
    expect(await db.collection('widgets').findOne({ _id: 'w1' as never })).toMatchObject({ size: 2 });
    const records = await db.collection(MIGRATIONS_COLLECTION).find({}).sort({ _id: 1 }).toArray();
    expect(records.map((r) => [r._id, r.state, r.by])).toEqual([
      ['0001-add-widgets', 'applied', 'test'],
      ['0002-grow-widgets', 'applied', 'test'],
    ]);
    expect((await runner(widgets(log)).status()).map((s) => s.state)).toEqual(['applied', 'applied']);
  });

  it('when up and down are given --to, then only the migrations up to / above that number move', async () => {
    const log: string[] = [];
    expect(await runner(widgets(log)).up({ to: 1 })).toEqual(['0001-add-widgets']);
    expect((await runner(widgets(log)).status()).map((s) => s.state)).toEqual(['applied', 'pending']);
    await runner(widgets(log)).up();
    expect(await runner(widgets(log)).down({ to: 0 })).toEqual(['0002-grow-widgets', '0001-add-widgets']);
    expect(log).toEqual(['up 1', 'up 2', 'down 2', 'down 1']);
    expect(await db.collection('widgets').countDocuments()).toBe(0);
    expect(await db.collection(MIGRATIONS_COLLECTION).countDocuments()).toBe(0);
  });

  it('when down runs without --to, then only the newest applied migration is reverted', async () => {
    const log: string[] = [];
    await runner(widgets(log)).up();
    expect(await runner(widgets(log)).down()).toEqual(['0002-grow-widgets']);
    expect(await db.collection('widgets').findOne({ _id: 'w1' as never })).toMatchObject({ size: 1 });
    expect((await runner(widgets(log)).status()).map((s) => s.state)).toEqual(['applied', 'pending']);
  });

  it('when a migration to revert has no down step, then down is refused and nothing changes', async () => {
    const log: string[] = [];
    const [first, second] = widgets(log);
    const oneWay: Migration[] = [first, { id: second.id, up: second.up }];
    await runner(oneWay).up();
    await expect(runner(oneWay).down({ to: 0 })).rejects.toThrow(/0002-grow-widgets has no down step/);
    expect(log).toEqual(['up 1', 'up 2']);
    expect(await db.collection(MIGRATIONS_COLLECTION).countDocuments()).toBe(2);
    expect(await db.collection('widgets').findOne({ _id: 'w1' as never })).toMatchObject({ size: 2 });
  });

  it('when two processes apply at once, then each migration body runs exactly once', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: Migration[] = [
      {
        id: '0001-slow',
        up: async (d) => {
          runs++;
          await gate;
          await d.collection('widgets').insertOne({ slow: true });
        },
      },
    ];
    const a = runner(slow, 'a').up();
    const b = runner(slow, 'b').up();
    // Both have tried their claim before the winner's body may finish.
    await Promise.race([a.catch(() => undefined), b.catch(() => undefined)]);
    release();
    const results = await Promise.allSettled([a, b]);
    expect(runs).toBe(1);
    expect(await db.collection('widgets').countDocuments({ slow: true })).toBe(1);
    // The loser saw the claim while the winner was still running and said so.
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0].reason).toBeInstanceOf(MigrationError);
    expect(String(rejected[0].reason)).toMatch(/is being applied by (a|b)/);
    // Afterwards a new run finds it applied and does nothing.
    expect(await runner(slow, 'c').up()).toEqual([]);
    expect(runs).toBe(1);
  });

  it('when a migration fails, then its claim is given back, later ones do not run, and a fixed run applies it', async () => {
    let fail = true;
    const log: string[] = [];
    const migrations: Migration[] = [
      {
        id: '0001-flaky',
        up: async () => {
          if (fail) throw new Error('boom');
          log.push('flaky ok');
        },
      },
      { ...widgets(log)[0], id: '0002-add-widgets' },
    ];
    await expect(runner(migrations).up()).rejects.toThrow(/migration 0001-flaky failed: boom/);
    expect(await db.collection(MIGRATIONS_COLLECTION).countDocuments()).toBe(0);
    expect(log).toEqual([]);
    fail = false;
    expect(await runner(migrations).up()).toEqual(['0001-flaky', '0002-add-widgets']);
  });

  it('when the database holds a migration this code does not know, then down refuses', async () => {
    const log: string[] = [];
    await runner(widgets(log)).up();
    await expect(runner(widgets(log).slice(0, 1)).down()).rejects.toThrow(/does not know \(0002-grow-widgets\)/);
  });

  it('when two migrations share a number or an id is malformed, then the runner refuses to start', () => {
    const up = async () => undefined;
    expect(() =>
      runner([
        { id: '0001-a', up },
        { id: '0001-b', up },
      ]),
    ).toThrow(/share the number 0001/);
    expect(() => runner([{ id: '1-a', up }])).toThrow(/not NNNN-name/);
  });
});
