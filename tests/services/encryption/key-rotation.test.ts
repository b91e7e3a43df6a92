import { randomBytes } from 'node:crypto';
import { ObjectId, type Db } from 'mongodb';
import { buildTestApp, type TestApp } from '../../support/app';
import { EncryptedFieldRegistry, aadFor } from '../../../src/services/encryption/field-encryption.plugin';
import { KeyRotation, type RotatingCipher } from '../../../src/services/encryption/key-rotation';
import type { EncryptionService } from '../../../src/services/encryption/encryption.service';
import { encryptionService } from '../../support/encryption';

const KEY_A = { id: 'kA', key: randomBytes(32) };
const KEY_B = { id: 'kB', key: randomBytes(32) };

/** The new ring's cipher, with a hook into each re-encryption (to fail or interrupt at a chosen value). */
function watched(inner: EncryptionService, onReEncrypt: (n: number) => void): RotatingCipher {
  let n = 0;
  return {
    get activeKeyId() {
      return inner.activeKeyId;
    },
    keyIdOf: (stored) => inner.keyIdOf(stored),
    reEncrypt: (stored, aad) => {
      onReEncrypt(++n);
      return inner.reEncrypt(stored, aad);
    },
  };
}

/**
 * Key rotation when things go wrong: undecryptable values, failures, collections added
 * mid-run, shutdown. Each test uses its own collections (and so its own state document
 * in its own database), seeded with raw values under key A.
 */
describe('key rotation: skipped values, failures, resumption and shutdown', () => {
  let t: TestApp;
  let oldCipher: EncryptionService;
  let newCipher: EncryptionService;

  beforeAll(async () => {
    t = await buildTestApp(__filename);
    oldCipher = await encryptionService([KEY_A], 'kA');
    newCipher = await encryptionService([KEY_A, KEY_B], 'kB');
  });
  afterAll(() => t.close());

  /** A rotation over its own database handle, so state documents of tests do not meet. */
  function rotationFor(
    registry: EncryptedFieldRegistry,
    cipher: RotatingCipher = newCipher,
    dbName = `${t.dbName}_${randomBytes(3).toString('hex')}`,
  ) {
    const own = t.container.database.connection.getClient().db(dbName);
    return {
      own,
      rotation: new KeyRotation({ db: () => own, cipher, registry, logger: t.logger, batchSize: 4 }),
    };
  }

  async function seedIn(
    own: Db,
    collection: string,
    n: number,
  ): Promise<{ ids: ObjectId[]; drop: () => Promise<unknown> }> {
    const ids = Array.from({ length: n }, () => new ObjectId()).sort((a, b) =>
      a.toHexString().localeCompare(b.toHexString()),
    );
    await own
      .collection(collection)
      .insertMany(
        ids.map((_id, i) => ({ _id, iban: oldCipher.encrypt(`IBAN-${i}`, aadFor(collection, _id, 'iban')) })),
      );
    return { ids, drop: () => own.dropDatabase() };
  }

  it('when one stored value cannot be decrypted, then the run skips it, re-encrypts the rest and finishes with errors naming it', async () => {
    const registry = new EncryptedFieldRegistry();
    registry.register('accounts', ['iban']);
    const { own, rotation } = rotationFor(registry);
    const { ids, drop } = await seedIn(own, 'accounts', 10);
    try {
      // Document 3 gets document 7's ciphertext: well-formed, but bound to another record.
      const other = (await own.collection('accounts').findOne({ _id: ids[7] }))!.iban as string;
      await own.collection('accounts').updateOne({ _id: ids[3] }, { $set: { iban: other } });

      const report = await rotation.rotate();
      expect(report).toMatchObject({
        status: 'finished-with-errors',
        error: null,
        skippedCount: 1,
        skipped: [{ collection: 'accounts', id: ids[3].toHexString(), path: 'iban' }],
      });
      expect(report.collections).toEqual([
        expect.objectContaining({ collection: 'accounts', scanned: 10, reEncrypted: 9, skipped: 1, done: true }),
      ]);
      expect(await rotation.status()).toMatchObject({ status: 'finished-with-errors', skippedCount: 1 });
      // Everything else moved; the one bad value stays as it was.
      expect(await rotation.keyUsage(['kA', 'kB'])).toEqual({ kA: 1, kB: 9 });
      expect((await own.collection('accounts').findOne({ _id: ids[3] }))!.iban).toBe(other);
    } finally {
      await drop();
    }
  });

  it('when a run started in the background fails, then its status says failed, why and how far it got; started again it resumes and finishes', async () => {
    const registry = new EncryptedFieldRegistry();
    registry.register('ledgers', ['iban']);
    let failing = true;
    const cipher = watched(newCipher, (n) => {
      if (failing && n === 6) throw new Error('key service unavailable');
    });
    const { own, rotation } = rotationFor(registry, cipher);
    const { drop } = await seedIn(own, 'ledgers', 10);
    try {
      expect(rotation.start({ actorId: 'operator-1' })).toBe(true);
      expect(rotation.runningHere).toBe(true);
      await rotation.idle();
      expect(rotation.runningHere).toBe(false);
      const failed = await rotation.status();
      expect(failed).toMatchObject({ status: 'failed', error: 'Error: key service unavailable' });
      expect(failed?.finishedAt).toBeInstanceOf(Date);
      expect(failed?.collections).toEqual([
        expect.objectContaining({ collection: 'ledgers', scanned: 5, reEncrypted: 5, done: false }),
      ]);

      failing = false;
      const done = await rotation.rotate();
      expect(done).toMatchObject({ status: 'finished', error: null, skippedCount: 0 });
      expect(done.collections[0]).toMatchObject({ scanned: 10, reEncrypted: 10, done: true });
      expect(await rotation.keyUsage(['kA', 'kB'])).toEqual({ kA: 0, kB: 10 });
    } finally {
      await drop();
    }
  });

  it('when a collection is registered after a run started, then the resumed run visits it before reporting finished', async () => {
    const registry = new EncryptedFieldRegistry();
    registry.register('first', ['iban']);
    const { own, rotation } = rotationFor(registry);
    const first = await seedIn(own, 'first', 6);
    await seedIn(own, 'later', 3);
    try {
      const partial = await rotation.rotate({ maxBatches: 1 });
      expect(partial.status).toBe('running');
      expect(partial.collections.map((c) => c.collection)).toEqual(['first']);

      registry.register('later', ['iban']); // e.g. a model added by the release the resumed run belongs to
      const done = await rotation.rotate();
      expect(done.status).toBe('finished');
      expect(done.collections).toEqual([
        expect.objectContaining({ collection: 'first', scanned: 6, reEncrypted: 6, done: true }),
        expect.objectContaining({ collection: 'later', scanned: 3, reEncrypted: 3, done: true }),
      ]);
      expect(await rotation.keyUsage(['kA'])).toEqual({ kA: 0 });
    } finally {
      await first.drop();
    }
  });

  it('when the process shuts down during a background run, then stop() waits for the batch, leaves it interrupted, and a new process resumes it', async () => {
    const registry = new EncryptedFieldRegistry();
    registry.register('payslips', ['iban']);
    const current: { rotation?: KeyRotation } = {};
    let stopped: Promise<void> | undefined;
    // Shutdown arrives while the first value of the first batch is being re-encrypted.
    const cipher = watched(newCipher, (n) => {
      if (n === 1) stopped = current.rotation!.stop();
    });
    const built = rotationFor(registry, cipher);
    const rotation = (current.rotation = built.rotation);
    const { drop } = await seedIn(built.own, 'payslips', 10);
    try {
      expect(rotation.start()).toBe(true);
      await rotation.idle();
      await stopped;
      const interrupted = await rotation.status();
      expect(interrupted?.status).toBe('interrupted');
      expect(interrupted?.collections[0]).toMatchObject({ scanned: 4, reEncrypted: 4, done: false });
      expect(rotation.start()).toBe(false); // a stopping process starts nothing new

      const restarted = new KeyRotation({
        db: () => built.own,
        cipher: newCipher,
        registry,
        logger: t.logger,
        batchSize: 4,
      });
      const done = await restarted.rotate();
      expect(done.status).toBe('finished');
      expect(done.collections[0]).toMatchObject({ scanned: 10, reEncrypted: 10 });
    } finally {
      await drop();
    }
  });
});
