import { randomBytes } from 'node:crypto';
import { Schema, type Model } from 'mongoose';
import { buildTestApp, type TestApp } from '../../support/app';
import { EncryptedFieldRegistry, fieldEncryption } from '../../../src/services/encryption/field-encryption.plugin';
import { KeyRotation } from '../../../src/services/encryption/key-rotation';
import { DecryptionError, type EncryptionService } from '../../../src/services/encryption/encryption.service';
import { encryptionService } from '../../support/encryption';
import { createLogger } from '../../../src/lib/logger';
import { EncryptedFieldQueryError } from '../../../src/lib/errors';

interface Person {
  name: string;
  nationalId?: string | null;
  iban?: string | null;
}

const KEY_A = { id: 'kA', key: randomBytes(32) };
const KEY_B = { id: 'kB', key: randomBytes(32) };
const BLIND = randomBytes(32);

describe('field encryption plugin and key rotation', () => {
  let t: TestApp;
  let registry: EncryptedFieldRegistry;
  let cipher: EncryptionService;
  let People: Model<Person>;

  /** A model on the test connection whose cipher can be swapped (a process restart with a new keyring). */
  const holder: { current?: EncryptionService } = {};
  const proxyCipher = {
    encrypt: (p: string, a?: string) => holder.current!.encrypt(p, a),
    decrypt: (s: string, a?: string) => holder.current!.decrypt(s, a),
    blindIndex: (f: string, v: string) => holder.current!.blindIndex(f, v),
  };

  beforeAll(async () => {
    t = await buildTestApp(__filename);
    registry = new EncryptedFieldRegistry();
    cipher = await encryptionService([KEY_A], 'kA', BLIND);
    holder.current = cipher;
    const schema = new Schema<Person>({ name: String, nationalId: String, iban: String }, { collection: 'people' });
    schema.plugin(fieldEncryption, {
      cipher: proxyCipher,
      registry,
      collection: 'people',
      fields: [{ path: 'nationalId', blindIndex: true, unique: true }, { path: 'iban' }],
    });
    People = t.container.database.connection.model<Person>('Person', schema);
    await People.createIndexes();
  });
  afterAll(() => t.close());

  const raw = () => t.container.database.connection.db!.collection('people');
  const PLAINTEXTS = ['AB-123-456-C', 'DE89370400440532013000', 'ZZ-999-000-Q', 'GB29NWBK60161331926819', 'CH-555'];

  // Each test starts from an empty collection under key A; those that read need the three people.
  beforeEach(async () => {
    holder.current = cipher;
    await raw().deleteMany({});
  });
  const seedPeople = async (): Promise<void> => {
    await People.create([
      { name: 'Ada', nationalId: PLAINTEXTS[0], iban: PLAINTEXTS[1] },
      { name: 'Bob', nationalId: PLAINTEXTS[2], iban: PLAINTEXTS[4] },
      { name: 'Cy', nationalId: 'CY-2', iban: PLAINTEXTS[3] },
    ]);
  };

  it('when documents are written through save, create, insertMany, updateOne and findOneAndUpdate, then the raw collection holds no plaintext', async () => {
    const doc = new People({ name: 'Ada', nationalId: PLAINTEXTS[0], iban: PLAINTEXTS[1] });
    await doc.save();
    expect(doc.nationalId).toBe(PLAINTEXTS[0]); // plaintext restored in memory after the write
    await People.create({ name: 'Bob', nationalId: PLAINTEXTS[2] });
    await People.insertMany([{ name: 'Cy', nationalId: 'CY-1', iban: PLAINTEXTS[3] }]);
    await People.updateOne({ name: 'Bob' }, { $set: { iban: PLAINTEXTS[4] } });
    await People.findOneAndUpdate({ name: 'Cy' }, { nationalId: 'CY-2' }, { returnDocument: 'after' });
    const dump = JSON.stringify(await raw().find().toArray());
    for (const p of [...PLAINTEXTS, 'CY-1', 'CY-2']) expect(dump).not.toContain(p);
    expect(dump).toContain('v1.kA.');
  });

  it('when reading hydrated or lean, by id or by an encrypted field, then values come back decrypted', async () => {
    await seedPeople();
    const ada = await People.findOne({ nationalId: PLAINTEXTS[0] });
    expect(ada?.name).toBe('Ada');
    expect(ada?.iban).toBe(PLAINTEXTS[1]);
    const lean = await People.find({ nationalId: { $in: [PLAINTEXTS[2], 'CY-2'] } })
      .sort({ name: 1 })
      .lean();
    expect(lean.map((p) => [p.name, p.nationalId, p.iban])).toEqual([
      ['Bob', PLAINTEXTS[2], PLAINTEXTS[4]],
      ['Cy', 'CY-2', PLAINTEXTS[3]],
    ]);
    expect(await People.countDocuments({ nationalId: ' ab-123-456-c ' })).toBe(1); // normalised blind index
    await expect(People.find({ nationalId: { $regex: '^AB' } })).rejects.toThrow(/only be matched by equality/);
    await expect(People.find({ iban: PLAINTEXTS[1] })).rejects.toThrow(/cannot be searched/);
  });

  it('when a hydrated document is changed and saved, then only changed fields are re-encrypted and it reads back', async () => {
    await seedPeople();
    const ada = (await People.findOne({ name: 'Ada' }))!;
    const before = (await raw().findOne({ _id: ada._id }))!;
    ada.iban = 'NEW-IBAN-1';
    await ada.save();
    const after = (await raw().findOne({ _id: ada._id }))!;
    expect(after.nationalId).toBe(before.nationalId);
    expect(after.iban).not.toBe(before.iban);
    expect((await People.findById(ada._id).lean())?.iban).toBe('NEW-IBAN-1');
  });

  it('when a write path would bypass encryption (replacement, bulk write, update pipeline), then it is refused and nothing is stored', async () => {
    const before = await raw().countDocuments();
    const doc = await People.create({ name: 'Refusal', nationalId: 'RF-1', iban: 'DE02120300000000202051' });
    await expect(People.replaceOne({ _id: doc._id }, { name: 'Refusal', iban: 'PLAIN-IBAN-1' })).rejects.toThrow(
      /not supported/,
    );
    await expect(People.findOneAndReplace({ _id: doc._id }, { name: 'Refusal', iban: 'PLAIN-IBAN-2' })).rejects.toThrow(
      /not supported/,
    );
    await expect(
      People.bulkWrite([{ insertOne: { document: { name: 'Bulk', iban: 'PLAIN-IBAN-3' } } }]),
    ).rejects.toThrow(/not supported/);
    await expect(
      People.updateOne({ _id: doc._id }, [{ $set: { iban: 'PLAIN-IBAN-4' } }], { updatePipeline: true }),
    ).rejects.toThrow(/not supported/);
    await expect(People.find({ $or: [{ nationalId: 'RF-1' }, { name: 'x' }] })).rejects.toBeInstanceOf(
      EncryptedFieldQueryError,
    );
    const dump = JSON.stringify(await raw().find().toArray());
    expect(dump).not.toMatch(/PLAIN-IBAN/);
    expect(await raw().countDocuments()).toBe(before + 1);
    await People.bulkWrite([{ deleteOne: { filter: { _id: doc._id } } }]);
    expect(await raw().countDocuments()).toBe(before);
  });

  it('when an update by a non-id filter sets an encrypted field, then the value is bound to the matched document and the lean result with metadata is decrypted', async () => {
    await People.create({ name: 'Filtered', iban: 'DE44500105175407324931' });
    const res = await People.findOneAndUpdate(
      { name: 'Filtered' },
      { $set: { iban: 'DE02500105170137075030' } },
      { returnDocument: 'after', includeResultMetadata: true },
    ).lean();
    expect((res as unknown as { value: Person }).value.iban).toBe('DE02500105170137075030');
    expect((await People.findOne({ name: 'Filtered' }).lean())!.iban).toBe('DE02500105170137075030');
  });

  it('when a ciphertext is copied into another document, then reading it fails with DecryptionError', async () => {
    await seedPeople();
    const ada = (await raw().findOne({ name: 'Ada' }))!;
    await raw().updateOne({ name: 'Bob' }, { $set: { iban: ada.iban } });
    await expect(People.findOne({ name: 'Bob' }).lean()).rejects.toBeInstanceOf(DecryptionError);
  });

  it('when the unique blind index sees a duplicate national ID, then the write is refused', async () => {
    await seedPeople();
    await expect(People.create({ name: 'Eve', nationalId: 'ab-123-456-c' })).rejects.toMatchObject({ code: 11000 });
  });

  it('when rotating from key A to B in small resumable batches, then all reads keep working and nothing stays under A', async () => {
    await seedPeople();
    await People.insertMany(
      Array.from({ length: 25 }, (_, i) => ({ name: `bulk${i}`, nationalId: `BULK-${i}`, iban: `IBAN-${i}` })),
    );
    const withB = await encryptionService([KEY_A, KEY_B], 'kB', BLIND);
    holder.current = withB;
    const rotation = new KeyRotation({
      db: () => t.container.database.db(),
      cipher: withB,
      registry,
      logger: createLogger({ level: 'silent' }),
      batchSize: 4,
    });
    expect((await rotation.keyUsage(['kA', 'kB'])).kA).toBe(28);
    await expect(rotation.assertRetirable('kA')).rejects.toMatchObject({ status: 409 });

    // Interrupted after 3 batches, then resumed: progress is kept.
    const partial = await rotation.rotate({ maxBatches: 3 });
    expect(partial.status).toBe('running');
    expect(partial.collections[0].scanned).toBe(12);
    expect((await People.findOne({ name: 'bulk20' }).lean())?.iban).toBe('IBAN-20'); // reads during rotation
    const done = await rotation.rotate();
    expect(done.status).toBe('finished');
    expect(done.collections[0]).toMatchObject({ scanned: 28, reEncrypted: 28, done: true });

    expect(await rotation.keyUsage(['kA', 'kB'])).toEqual({ kA: 0, kB: 28 });
    await expect(rotation.assertRetirable('kA')).resolves.toBeUndefined();
    await expect(rotation.assertRetirable('kB')).rejects.toMatchObject({ status: 409 });
    const dump = JSON.stringify(await raw().find().toArray());
    expect(dump).not.toContain('v1.kA.');

    // Retire A: a ring without it still reads everything.
    holder.current = await encryptionService([KEY_B], 'kB', BLIND);
    const all = await People.find().lean();
    expect(all).toHaveLength(28);
    expect(all.find((p) => p.name === 'Ada')?.iban).toBe(PLAINTEXTS[1]);
    expect(await People.countDocuments({ nationalId: 'BULK-7' })).toBe(1);
  });
});
