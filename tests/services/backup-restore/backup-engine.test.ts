import { existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BSON, type Db, type Document } from 'mongodb';
import { AppError } from '../../../src/lib/errors';
import { digestCollection } from '../../../src/services/backup-restore/backup-engine';
import type { BackupProgress } from '../../../src/services/backup-restore/backup.types';
import {
  indexShapes,
  seededBackupWorld,
  SEEDED_COLLECTIONS,
  tickingClock,
  type AnyIdDocument,
  type SeededBackupWorld,
} from '../../support/backup-fixtures';

let world: SeededBackupWorld;
let root: string;

beforeAll(async () => {
  world = await seededBackupWorld(__filename, { documents: 120, tempPrefix: 'backup-engine' });
  root = world.root;
});

afterAll(() => world.close());

describe('BackupEngine (plain backups against the test server)', () => {
  it('when a backup is created, then it is renamed into place complete with a manifest matching the files and the data', async () => {
    const progress: BackupProgress[] = [];
    const manifest = await world
      .engine()
      .create({ id: 'b1', kind: 'manual', root, onProgress: (p) => progress.push(p) });

    expect(readdirSync(root)).toEqual(['b1']);
    expect(manifest).toMatchObject({
      formatVersion: 1,
      id: 'b1',
      kind: 'manual',
      status: 'complete',
      appVersion: '0.1.0-test',
    });
    expect(manifest.serverVersion).toMatch(/^\d+\.\d+/);
    expect(manifest.collections.map((c) => c.collection)).toEqual(SEEDED_COLLECTIONS);
    expect(manifest.collections.find((c) => c.collection === 'audit log/2026')!.bson.path).toBe(
      `dump/${world.dbName}/audit+log%2F2026.bson.gz`,
    );
    for (const c of manifest.collections) {
      const expected = await digestCollection(world.db, c.collection);
      expect({ documents: c.documents, digest: c.digest }).toEqual(expected);
      const stored = await fs.readFile(path.join(root, 'b1', c.bson.path));
      expect(stored.length).toBe(c.bson.bytes);
      // Concatenated BSON in one gzip stream: the documents decode one after the other.
      const plain = gunzipSync(stored);
      let at = 0;
      let n = 0;
      while (at < plain.length) {
        at += plain.readInt32LE(at);
        n++;
      }
      expect(n).toBe(c.documents);
      const meta = BSON.EJSON.parse(gunzipSync(await fs.readFile(path.join(root, 'b1', c.metadata.path))).toString(), {
        relaxed: false,
      }) as { collectionName: string; indexes: Array<{ name: string }>; type: string };
      expect(meta.collectionName).toBe(c.collection);
      expect(meta.type).toBe('collection');
      expect(meta.indexes.map((i) => i.name)).toContain('_id_');
    }
    expect(manifest.totals.documents).toBe(241);
    expect(await world.engine().readManifest(path.join(root, 'b1'))).toEqual(manifest);
    expect(progress.at(-1)).toMatchObject({
      phase: 'done',
      collectionsDone: 3,
      collectionsTotal: 3,
      documentsDone: 241,
    });
  });

  it('when an untouched backup is verified, then checksums and a restore into a scratch database pass and the scratch database is dropped', async () => {
    const dir = path.join(root, 'b1');
    const checks = await world.engine().verifyChecksums(dir);
    expect(checks).toMatchObject({ ok: true, method: 'checksums', problems: [] });
    const scratch = world.otherDb('scratch');
    const byRestore = await world.engine().verifyByRestore(dir, scratch);
    expect(byRestore).toMatchObject({ ok: true, method: 'restore', problems: [] });
    expect(await world.client.db(scratch).listCollections().toArray()).toEqual([]);

    const occupied = world.otherDb('scratch_used');
    await world.client.db(occupied).collection('live').insertOne({ _id: new BSON.ObjectId() });
    await expect(world.engine().verifyByRestore(dir, occupied)).rejects.toMatchObject({ code: 'scratch-db-not-empty' });
    expect(await world.client.db(occupied).collection('live').countDocuments()).toBe(1);
    await expect(world.engine().verifyByRestore(dir, world.dbName)).rejects.toMatchObject({ status: 400 });
  });

  it('when restored into another database, then every document, count and index matches the source, with progress and ETA', async () => {
    const target = world.otherDb('restored');
    const progress: BackupProgress[] = [];
    const result = await world
      .engine({ now: tickingClock() })
      .restore(path.join(root, 'b1'), { toDb: target, onProgress: (p) => progress.push(p) });
    expect(result.db).toBe(target);
    expect(result.collections).toEqual([
      { collection: 'audit log/2026', documents: 1, indexes: 0 },
      { collection: 'employees', documents: 120, indexes: 2 },
      { collection: 'invoices', documents: 120, indexes: 1 },
    ]);
    const restored = world.client.db(target);
    for (const name of SEEDED_COLLECTIONS) {
      expect(await digestCollection(restored, name)).toEqual(await digestCollection(world.db, name));
      expect(await indexShapes(restored, name)).toEqual(await indexShapes(world.db, name));
    }
    expect(progress.some((p) => p.phase === 'restoring' && (p.etaSeconds ?? 0) > 0)).toBe(true);
    expect(progress.at(-1)).toMatchObject({ phase: 'done', documentsDone: 241, documentsTotal: 241 });
  });

  it('when insert batches are small and several are in flight, then every document is restored exactly once', async () => {
    const target = world.otherDb('pipelined');
    const progress: BackupProgress[] = [];
    await world
      .engine({ batch: { documents: 7, bytes: 1 << 20 }, insertConcurrency: 3 })
      .restore(path.join(root, 'b1'), { toDb: target, onProgress: (p) => progress.push(p) });
    const restored = world.client.db(target);
    for (const name of SEEDED_COLLECTIONS)
      expect(await digestCollection(restored, name)).toEqual(await digestCollection(world.db, name));
    const done = progress.map((p) => p.documentsDone);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(progress.at(-1)).toMatchObject({ phase: 'done', documentsDone: 241, documentsTotal: 241 });
  });

  it('when one insert batch fails while others are in flight, then the restore fails after they settle and drops every collection it created', async () => {
    const target = world.otherDb('failing-batch');
    let inserts = 0;
    // The server refusing the third batch (as a full disk or a lost primary would).
    const failingDb = (name: string): Db => {
      const db = world.client.db(name);
      return new Proxy(db, {
        get(obj, prop, receiver) {
          if (prop !== 'collection') return Reflect.get(obj, prop, receiver) as unknown;
          return (collection: string) =>
            new Proxy(obj.collection(collection), {
              get(coll, key, r) {
                if (key !== 'insertMany') return Reflect.get(coll, key, r) as unknown;
                return async (docs: Document[], opts: object) => {
                  if (++inserts === 3) throw new Error('disk full');
                  return coll.insertMany(docs, opts);
                };
              },
            });
        },
      });
    };
    await expect(
      world
        .engine({ db: failingDb, batch: { documents: 7, bytes: 1 << 20 }, insertConcurrency: 3 })
        .restore(path.join(root, 'b1'), { toDb: target }),
    ).rejects.toThrow('disk full');
    expect(inserts).toBeGreaterThanOrEqual(3);
    // Nothing left behind, not even by a batch that was still running when the third failed.
    expect(await world.client.db(target).listCollections().toArray()).toEqual([]);
    // Once the failure is seen no further batch starts (at most the two others were in flight).
    expect(inserts).toBeLessThanOrEqual(5);
  });

  it('when only some collections are asked for, then only those are restored', async () => {
    const target = world.otherDb('partial');
    const result = await world.engine().restore(path.join(root, 'b1'), { toDb: target, collections: ['invoices'] });
    expect(result.collections.map((c) => c.collection)).toEqual(['invoices']);
    const names = (await world.client.db(target).listCollections().toArray()).map((c) => c.name);
    expect(names).toEqual(['invoices']);
  });

  it('when a restore targets the original database without overwrite, an existing collection, or an unknown collection, then it refuses and writes nothing', async () => {
    const dir = path.join(root, 'b1');
    const engine = world.engine();
    await expect(engine.restore(dir, {})).rejects.toMatchObject({ code: 'restore-needs-confirmation' });
    await expect(engine.restore(dir, { toDb: world.dbName })).rejects.toMatchObject({
      code: 'restore-needs-confirmation',
    });
    const target = world.otherDb('occupied');
    await world.client.db(target).collection<AnyIdDocument>('invoices').insertOne({ _id: 'keep-me' });
    await expect(engine.restore(dir, { toDb: target })).rejects.toMatchObject({ code: 'restore-target-exists' });
    expect((await world.client.db(target).listCollections().toArray()).map((c) => c.name)).toEqual(['invoices']);
    expect(await world.client.db(target).collection<AnyIdDocument>('invoices').find().toArray()).toEqual([
      { _id: 'keep-me' },
    ]);
    await expect(engine.restore(dir, { toDb: world.otherDb('x'), collections: ['nope'] })).rejects.toBeInstanceOf(
      AppError,
    );
  });

  it('when overwrite is confirmed, then the original database gets the backup contents back', async () => {
    await world.db.collection<AnyIdDocument>('invoices').deleteMany({ _id: { $lt: 50 } });
    await world.db.collection<AnyIdDocument>('invoices').insertOne({ _id: 'added-after-backup' });
    const manifest = await world.engine().readManifest(path.join(root, 'b1'));
    await world.engine().restore(path.join(root, 'b1'), { overwrite: true, collections: ['invoices'] });
    const entry = manifest.collections.find((c) => c.collection === 'invoices')!;
    expect(await digestCollection(world.db, 'invoices')).toEqual({ documents: entry.documents, digest: entry.digest });
    expect(await indexShapes(world.db, 'invoices')).toEqual([
      { name: '_id_', key: { _id: 1 }, unique: false },
      { name: 'number_1', key: { number: 1 }, unique: false },
    ]);
  });

  it('when a backup id is unsafe or already taken, then create refuses and leaves no directory', async () => {
    const engine = world.engine();
    await expect(engine.create({ id: '../evil', kind: 'manual', root })).rejects.toMatchObject({ status: 400 });
    await expect(engine.create({ id: 'b1', kind: 'manual', root })).rejects.toMatchObject({ code: 'backup-exists' });
    expect(readdirSync(root).sort()).toEqual(['b1']);
    expect(existsSync(path.join(root, '.tmp-b1'))).toBe(false);
  });
});
