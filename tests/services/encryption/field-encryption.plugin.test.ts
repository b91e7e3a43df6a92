import { randomBytes } from 'node:crypto';
import { Schema, type Model } from 'mongoose';
import { buildTestApp, type TestApp } from '../../support/app';
import {
  EncryptedFieldRegistry,
  MARK_UNREADABLE,
  fieldEncryption,
  type UndecryptableValue,
} from '../../../src/services/encryption/field-encryption.plugin';
import { EncryptionService } from '../../../src/services/encryption/encryption.service';
import { StaticKeyProvider } from '../../../src/services/encryption/keyring';
import { PasswordHasher } from '../../../src/services/encryption/password-hasher';
import { AppError, EncryptedFieldQueryError, PersistenceError } from '../../../src/lib/errors';
import { toAppError } from '../../../src/middleware/error-handler';
import { createLogger } from '../../../src/lib/logger';

interface Member {
  handle: string;
  nationalId?: string | null;
  iban?: string | null;
}

/**
 * The plugin's behaviour around failed writes, nested and presence queries, and values
 * that cannot be decrypted in a list, on a model of its own over the real database.
 */
describe('field encryption plugin: failed writes, query shapes and unreadable values', () => {
  let t: TestApp;
  let cipher: EncryptionService;
  let Members: Model<Member>;
  const reports: UndecryptableValue[] = [];

  beforeAll(async () => {
    t = await buildTestApp(__filename);
    cipher = new EncryptionService({
      keyProvider: new StaticKeyProvider([{ id: 'kA', key: randomBytes(32) }], 'kA'),
      blindIndexKey: randomBytes(32),
      passwords: new PasswordHasher(10),
      logger: createLogger({ level: 'silent' }),
    });
    await cipher.init();
    const registry = new EncryptedFieldRegistry({ logger: t.logger, onUndecryptable: (v) => reports.push(v) });
    // `handle` is unique and not encrypted: a duplicate makes a save fail after encryption ran.
    const schema = new Schema<Member>(
      { handle: { type: String, unique: true }, nationalId: String, iban: String },
      { collection: 'members' },
    );
    schema.plugin(fieldEncryption, {
      cipher,
      registry,
      collection: 'members',
      fields: [{ path: 'nationalId', blindIndex: true, unique: true }, { path: 'iban' }],
    });
    Members = t.container.database.connection.model<Member>('Member', schema);
    await Members.createIndexes();
  });
  afterAll(() => t.close());

  const raw = () => t.container.database.connection.db!.collection('members');

  it('when a new document fails to save and the save is retried, then the stored values decrypt to the plaintext', async () => {
    await Members.create({ handle: 'taken', iban: 'DE00TAKEN' });
    const doc = new Members({ handle: 'taken', nationalId: 'RETRY-NID-1', iban: 'DE89370400440532013000' });
    await expect(doc.save()).rejects.toMatchObject({ code: 11000 });
    // The in-memory document holds the plaintext again, not the ciphertext of the failed write.
    expect(doc.nationalId).toBe('RETRY-NID-1');
    expect(doc.iban).toBe('DE89370400440532013000');
    doc.handle = 'free';
    await doc.save();
    const back = await Members.findOne({ handle: 'free' }).lean();
    expect(back).toMatchObject({ nationalId: 'RETRY-NID-1', iban: 'DE89370400440532013000' });
    expect(await Members.countDocuments({ nationalId: 'RETRY-NID-1' })).toBe(1);
  });

  it('when a change to an existing document fails to save and is retried, then it is encrypted once', async () => {
    await Members.create({ handle: 'other-owner' });
    const doc = (await Members.create({ handle: 'changer', iban: 'OLD-IBAN' }))!;
    doc.iban = 'NEW-IBAN-7';
    doc.handle = 'other-owner';
    // (MongoDB answers code 11000 here, FerretDB a generic write error: either way the write failed.)
    await expect(doc.save()).rejects.toThrow();
    expect(doc.iban).toBe('NEW-IBAN-7');
    doc.handle = 'changer';
    await doc.save();
    expect((await Members.findById(doc._id).lean())?.iban).toBe('NEW-IBAN-7');
  });

  it('when insertMany fails and the same input is inserted again, then the input kept its plaintext and nothing is encrypted twice', async () => {
    await Members.create({ handle: 'bulk-dup' });
    const input = [{ handle: 'bulk-dup', nationalId: 'BULK-NID-9', iban: 'BULK-IBAN-9' }];
    await expect(Members.insertMany(input)).rejects.toMatchObject({ code: 11000 });
    expect(input[0]).toEqual({ handle: 'bulk-dup', nationalId: 'BULK-NID-9', iban: 'BULK-IBAN-9' });
    input[0].handle = 'bulk-ok';
    const [created] = await Members.insertMany(input);
    expect(created.iban).toBe('BULK-IBAN-9');
    expect(input[0].iban).toBe('BULK-IBAN-9');
    expect(await Members.findOne({ handle: 'bulk-ok' }).lean()).toMatchObject({
      nationalId: 'BULK-NID-9',
      iban: 'BULK-IBAN-9',
    });
  });

  it('when several records have no value for a uniquely indexed encrypted field, then all are stored, and clearing a value frees it', async () => {
    // A stored null blind index collided under the unique index: the second record without
    // a national ID failed with a duplicate key (on MongoDB too, sparse or not).
    await Members.create({ handle: 'none-1' });
    await Members.create({ handle: 'none-2', nationalId: null });
    await Members.insertMany([{ handle: 'none-3' }, { handle: 'none-4', nationalId: null }]);
    const withValue = await Members.create({ handle: 'none-5', nationalId: 'CLEAR-NID-5' });
    await Members.updateOne({ _id: withValue._id }, { $set: { nationalId: null } });
    const saved = await Members.create({ handle: 'none-6', nationalId: 'CLEAR-NID-6' });
    saved.nationalId = null;
    await saved.save();
    const stored = await raw()
      .find({ handle: { $in: ['none-1', 'none-2', 'none-3', 'none-4', 'none-5', 'none-6'] } })
      .toArray();
    expect(stored).toHaveLength(6);
    for (const doc of stored) expect(doc).not.toHaveProperty('nationalIdBidx');
    // The cleared values are free again for another record.
    await Members.create({ handle: 'reuse-5', nationalId: 'CLEAR-NID-5' });
    await Members.create({ handle: 'reuse-6', nationalId: 'CLEAR-NID-6' });
    expect(await Members.countDocuments({ nationalId: 'CLEAR-NID-5' })).toBe(1);
  });

  it('when an encrypted field appears inside $and/$or/$nor at any depth, then the query is refused with a persistence error, not an HTTP error', async () => {
    await Members.create({ handle: 'nested', nationalId: 'NESTED-1' });
    const shapes = [
      { $or: [{ nationalId: 'NESTED-1' }, { handle: 'x' }] },
      { $and: [{ handle: 'nested' }, { $or: [{ nationalId: 'NESTED-1' }, { handle: 'y' }] }] },
      { $nor: [{ $and: [{ $or: [{ iban: null }] }] }] },
      { handle: 'nested', $and: [{ $nor: [{ handle: 'z' }, { $or: [{ nationalId: { $in: ['NESTED-1'] } }] }] }] },
    ];
    for (const filter of shapes) {
      const err: unknown = await Members.find(filter).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(EncryptedFieldQueryError);
      expect(err).toBeInstanceOf(PersistenceError);
      expect(err).not.toBeInstanceOf(AppError);
      expect(err).not.toHaveProperty('status');
      expect(toAppError(err)).toMatchObject({ status: 500, code: 'internal-error' });
    }
    // Logical operators over other fields still work.
    expect(await Members.countDocuments({ $or: [{ handle: 'nested' }, { handle: 'none' }] })).toBe(1);
  });

  it('when a query asks whether an encrypted field is unset (null, $exists, $eq/$ne null), then it is answered', async () => {
    await Members.create({ handle: 'with-both', nationalId: 'PRESENT-1', iban: 'PRESENT-IBAN' });
    await Members.create({ handle: 'with-none' });
    await Members.create({ handle: 'with-null', nationalId: null, iban: null });
    const handles = async (filter: Record<string, unknown>) =>
      (await Members.find({ handle: { $in: ['with-both', 'with-none', 'with-null'] }, ...filter }).lean())
        .map((m) => m.handle)
        .sort();
    expect(await handles({ nationalId: null })).toEqual(['with-none', 'with-null']);
    expect(await handles({ iban: null })).toEqual(['with-none', 'with-null']);
    expect(await handles({ iban: { $eq: null } })).toEqual(['with-none', 'with-null']);
    expect(await handles({ iban: { $ne: null } })).toEqual(['with-both']);
    expect(await handles({ nationalId: { $exists: true } })).toEqual(['with-both', 'with-null']);
    // Anything beyond presence stays refused on a field without a blind index.
    await expect(Members.find({ iban: 'PRESENT-IBAN' })).rejects.toBeInstanceOf(EncryptedFieldQueryError);
  });

  it('when one stored value cannot be decrypted, then a marked list returns the rest, nulls and names that field, and reports it once without the ciphertext', async () => {
    const a = await Members.create({ handle: 'list-a', nationalId: 'LIST-A', iban: 'LIST-IBAN-A' });
    const b = await Members.create({ handle: 'list-b', nationalId: 'LIST-B', iban: 'LIST-IBAN-B' });
    // B's iban replaced by A's ciphertext: well-formed, but bound to another record.
    const stolen = (await raw().findOne({ _id: a._id }))!.iban as string;
    await raw().updateOne({ _id: b._id }, { $set: { iban: stolen } });
    const list = async () =>
      (await Members.find({ handle: { $in: ['list-a', 'list-b'] } })
        .sort({ handle: 1 })
        .lean(MARK_UNREADABLE)) as unknown as Array<Record<string, unknown>>;
    const items = await list();
    expect(items[0]).toMatchObject({ handle: 'list-a', nationalId: 'LIST-A', iban: 'LIST-IBAN-A' });
    expect(items[0]).not.toHaveProperty('_unreadable');
    expect(items[1]).toMatchObject({ handle: 'list-b', nationalId: 'LIST-B', iban: null, _unreadable: ['iban'] });
    await list();
    expect(reports).toEqual([{ collection: 'members', id: String(b._id), path: 'iban' }]);
    const logged = t.logs.records().filter((r) => r.msg === 'stored value could not be decrypted');
    expect(logged).toEqual([expect.objectContaining({ collection: 'members', recordId: String(b._id), path: 'iban' })]);
    expect(t.logs.text).not.toContain(stolen);
    // Unmarked reads (single records, documents that may be written back) still fail.
    await expect(Members.findById(b._id).lean()).rejects.toMatchObject({ name: 'DecryptionError' });
    await expect(Members.find({ handle: 'list-b' })).rejects.toMatchObject({ name: 'DecryptionError' });
  });
});
