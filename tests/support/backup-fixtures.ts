import { randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON, MongoClient, type Db, type Document } from 'mongodb';
import { createLogger } from '../../src/lib/logger';
import type { EncryptionService } from '../../src/services/encryption/encryption.service';
import { BackupEngine, type BackupEngineDeps } from '../../src/services/backup-restore/backup-engine';
import { encryptionService } from './encryption';
import { testNamespace } from './env';
import { mongoServerUrl } from './mongo-tools';

/** A document whose `_id` is any BSON value (the driver's default type assumes ObjectId). */
export type AnyIdDocument = Document & { _id: string | number | BSON.ObjectId };

/** A clock that moves one second every time it is read: progress ETAs get a deterministic rate. */
export function tickingClock(start = Date.UTC(2026, 10, 30, 2, 0, 0)): () => Date {
  let t = start;
  return () => new Date((t += 1000));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

export interface BackupWorld {
  client: MongoClient;
  dbName: string;
  db: Db;
  engine(over?: Partial<BackupEngineDeps>): BackupEngine;
  /** A fresh database name of this test file (dropped by close). */
  otherDb(tag: string): string;
  close(): Promise<void>;
}

/** A client on the test server, the file's own source database and an engine factory over it. */
export async function backupWorld(file: string, encryption: EncryptionService): Promise<BackupWorld> {
  const { dbName } = testNamespace(file);
  const client = new MongoClient(mongoServerUrl(), { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  const used = new Set<string>([dbName]);
  return {
    client,
    dbName,
    db: client.db(dbName),
    engine: (over = {}) =>
      new BackupEngine({
        db: (name) => client.db(name),
        databases: [dbName],
        encryption,
        encryptAtRest: false,
        appVersion: '0.1.0-test',
        logger: createLogger({ level: 'silent' }),
        ...over,
      }),
    otherDb(tag) {
      const name = `${dbName}_${tag}`.slice(0, 63);
      used.add(name);
      return name;
    },
    async close() {
      for (const name of used)
        await client
          .db(name)
          .dropDatabase()
          .catch(() => undefined);
      await client.close();
    },
  };
}

/** A backup world over a seeded source and an empty backup root; close() drops the databases and removes the root. */
export interface SeededBackupWorld extends BackupWorld {
  root: string;
}

/**
 * What every engine test file starts from: its source database seeded with `documents` per
 * collection, a temporary backup root, and an engine encrypting with `encryption` (by default
 * a fresh one-key ring).
 */
export async function seededBackupWorld(
  file: string,
  opts: { documents: number; tempPrefix: string; encryption?: EncryptionService },
): Promise<SeededBackupWorld> {
  const encryption = opts.encryption ?? (await encryptionService([{ id: 'k1', key: randomBytes(32) }], 'k1'));
  const world = await backupWorld(file, encryption);
  await seedSource(world.db, opts.documents);
  const root = tempDir(opts.tempPrefix);
  return {
    ...world,
    root,
    async close() {
      await world.close();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}

/** The collections seedSource writes, sorted by name. */
export const SEEDED_COLLECTIONS = ['audit log/2026', 'employees', 'invoices'];

/**
 * Seeds collections with values FerretDB stores faithfully (no Decimal128, NaN, MinKey/MaxKey,
 * code or -0.0), covering the common BSON types, plus secondary indexes.
 */
export async function seedSource(db: Db, docsPerCollection = 300): Promise<void> {
  const employees = Array.from({ length: docsPerCollection }, (_, i) => ({
    _id: new BSON.ObjectId(),
    employeeNo: `E${String(i).padStart(5, '0')}`,
    name: `Employee ${i} ünïcødé`,
    age: new BSON.Int32(20 + (i % 40)),
    salary: new BSON.Double(3000.5 + i),
    bonusCents: BSON.Long.fromString(String(1_000_000_000_000 + i)),
    active: i % 3 !== 0,
    manager: i % 7 === 0 ? null : `E${String(i % 7).padStart(5, '0')}`,
    hiredAt: new Date(Date.UTC(2020, 0, 1) + i * 86_400_000),
    address: { street: `${i} Main St`, zip: String(10000 + i), tags: ['a', 'b', i] },
    photo: new BSON.Binary(Buffer.from([i % 256, 1, 2, 3])),
    ref: new BSON.Binary(Buffer.from(randomBytes(16)), 4),
    pattern: new BSON.BSONRegExp('^E\\d+$', 'i'),
    updated: new BSON.Timestamp({ t: 1_700_000_000 + i, i: 1 }),
  }));
  await db.collection('employees').insertMany(employees);
  await db.collection('employees').createIndex({ employeeNo: 1 }, { unique: true, name: 'employeeNo_unique' });
  await db.collection('employees').createIndex({ 'address.zip': 1, age: -1 }, { name: 'zip_age' });
  const invoices = Array.from({ length: docsPerCollection }, (_, i) => ({
    _id: i,
    number: `INV-${i}`,
    lines: [{ sku: 'x', qty: i }],
    total: i * 1.25,
  }));
  await db.collection<AnyIdDocument>('invoices').insertMany(invoices);
  await db.collection('invoices').createIndex({ number: 1 }, { name: 'number_1' });
  await db.collection<AnyIdDocument>('audit log/2026').insertOne({ _id: 'a', msg: 'name needs escaping' });
}

/** Index names, keys and uniqueness of a collection, comparable across servers. */
export async function indexShapes(
  db: Db,
  collection: string,
): Promise<Array<{ name: string; key: unknown; unique: boolean }>> {
  const ixs = await db.collection(collection).listIndexes().toArray();
  return ixs
    .map((ix) => ({
      name: String(ix.name),
      key: BSON.EJSON.serialize(ix.key, { relaxed: true }),
      unique: ix.unique === true,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
