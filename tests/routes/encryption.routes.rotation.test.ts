import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { createUser, mfaSession, bearer } from '../support/users';
import { aadFor } from '../../src/services/encryption/field-encryption.plugin';
import { EncryptionService } from '../../src/services/encryption/encryption.service';
import { StaticKeyProvider } from '../../src/services/encryption/keyring';
import { PasswordHasher } from '../../src/services/encryption/password-hasher';
import { createLogger } from '../../src/lib/logger';

const KEY_A = randomBytes(32);
const KEY_B = randomBytes(32);

/** A rotation started over HTTP meets a value it cannot decrypt: the outcome is in GET /rotation, not only in the log. */
describe('POST /api/v1/encryption/rotation with an undecryptable value', () => {
  let t: TestApp;
  let admin: string;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      ENCRYPTION_KEYS: `kA:${KEY_A.toString('base64')},kB:${KEY_B.toString('base64')}`,
      ENCRYPTION_ACTIVE_KEY_ID: 'kB',
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '10000/60',
    });
    admin = await mfaSession(t, await createUser(t, 'rotator@rotation.example', 'admin', 'it'));
  });
  afterAll(() => t.close());

  it('when one stored value is corrupted, then the run finishes with errors and the status lists the value; the rest is under the new key', async () => {
    const old = new EncryptionService({
      keyProvider: new StaticKeyProvider([{ id: 'kA', key: KEY_A }], 'kA'),
      blindIndexKey: randomBytes(32),
      passwords: new PasswordHasher(10),
      logger: createLogger({ level: 'silent' }),
    });
    await old.init();
    // Employees written before the switch to kB (raw, as an older release stored them).
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    await t.container.database
      .db()
      .collection<{ _id: string }>('employees')
      .insertMany(
        ids.map((_id, i) => ({
          _id,
          name: `Old ${i}`,
          workEmail: `old${i}@rotation.example`,
          department: 'it',
          bankAccount: old.encrypt(`DE0${i}500105170137075030`, aadFor('employees', _id, 'bankAccount')),
        })),
      );
    // The second one's value was bound to the first record: it can never be decrypted.
    const misplaced = old.encrypt('DE99', aadFor('employees', ids[0], 'bankAccount'));
    await t.container.database
      .db()
      .collection<{ _id: string }>('employees')
      .updateOne({ _id: ids[1] }, { $set: { bankAccount: misplaced } });

    const post = await request(t.app)
      .post('/api/v1/encryption/rotation')
      .set(...bearer(admin));
    expect(post.status).toBe(202);
    expect(post.body).toMatchObject({ accepted: true, started: true, activeKeyId: 'kB' });
    await t.container.deps.protection.keyRotation.idle();

    const status = await request(t.app)
      .get('/api/v1/encryption/rotation')
      .set(...bearer(admin));
    expect(status.status).toBe(200);
    expect(status.body.runningHere).toBe(false);
    expect(status.body.rotation).toMatchObject({
      status: 'finished-with-errors',
      error: null,
      skippedCount: 1,
      skipped: [{ collection: 'employees', id: ids[1], path: 'bankAccount' }],
    });
    expect(status.body.usage).toEqual({ kA: 1, kB: 2 });
    const finished = await t.container.database
      .db()
      .collection('audit_events')
      .findOne({ action: 'encryption.rotation.finished' });
    expect(finished).toMatchObject({ outcome: 'failed', details: expect.objectContaining({ skipped: 1 }) });
  });
});
