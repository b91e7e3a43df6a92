import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { auditCount } from '../support/audit';
import { testMongoUri } from '../support/env';
import { waitFor } from '../support/wait';
import { createUser, mfaSession, bearer } from '../support/users';

const KEY_A = `kA:${randomBytes(32).toString('base64')}`;
const KEY_B = `kB:${randomBytes(32).toString('base64')}`;
const BLIND = randomBytes(32).toString('base64');

describe('key rotation over HTTP', () => {
  let t: TestApp;
  const tok: Record<string, string> = {};
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await buildTestApp(__filename, { ...ROUTE_TEST_ENV, ENCRYPTION_KEYS: KEY_A, BLIND_INDEX_KEY: BLIND });
    ids.admin = await createUser(t, 'root@corp.example', 'admin', 'it');
    ids.erik = await createUser(t, 'erik@corp.example', 'user', 'sales');
    for (const k of Object.keys(ids)) tok[k] = await mfaSession(t, ids[k]);
  });
  afterAll(() => t.close());

  it('when the keyring gains key B and an admin rotates, then everything reads under B, nothing stays under A, and A can be retired', async () => {
    for (const body of [
      { name: 'Finn', workEmail: 'finn@corp.example', nationalId: 'FINN-1', bankAccount: 'DE44500105175407324931' },
      {
        name: 'Dana Doe',
        workEmail: 'dana.doe@corp.example',
        userId: ids.erik,
        phone: '+4917612345678',
        nationalId: 'DANA-NID-0042',
        bankAccount: 'DE02120300000000202051',
        salary: 4_800_000,
      },
    ]) {
      const created = await request(t.app)
        .post('/api/v1/employees')
        .set(...bearer(tok.admin))
        .send({ department: 'sales', ...body });
      expect(created.status).toBe(201);
    }
    // Values the TwoFactorAuthService encrypts itself (not through the plugin) must rotate too:
    // erik's authenticator secret, and a phone number in a pending enrollment code.
    const erik = (await t.container.models.User.findById(ids.erik).lean())!;
    const { secret: totpSecret } = await t.container.deps.identity.twoFactor.setupTotp(erik);
    await t.container.models.User.updateOne(
      { _id: ids.erik },
      { $set: { 'mfa.totpPending': false, 'mfa.methods': ['totp'] } },
    );
    const challengeId = `${ids.erik}:enroll:sms`;
    await t.container.database
      .db()
      .collection('otp_challenges')
      .insertOne({
        _id: challengeId as never,
        userId: ids.erik,
        purpose: 'enroll',
        channel: 'sms',
        codeHash: 'x',
        target: t.container.deps.protection.encryption.encrypt(
          '+4915112345678',
          `otp_challenges/${challengeId}/target`,
        ),
        sentAt: new Date(),
        expiresAt: new Date(Date.now() + 600_000),
        attempts: 0,
        consumedAt: null,
      });
    const next = await buildTestApp(__filename, {
      ...ROUTE_TEST_ENV,
      MONGODB_URI: testMongoUri(t.dbName),
      REDIS_KEY_PREFIX: t.redisPrefix,
      ENCRYPTION_KEYS: `${KEY_A},${KEY_B}`,
      ENCRYPTION_ACTIVE_KEY_ID: 'kB',
      BLIND_INDEX_KEY: BLIND,
    });
    try {
      const before = await request(next.app)
        .get('/api/v1/encryption/rotation')
        .set(...bearer(tok.admin));
      expect(before.body.usage.kA).toBeGreaterThan(0);
      expect(
        (
          await request(next.app)
            .post('/api/v1/encryption/rotation')
            .set(...bearer(tok.admin))
        ).status,
      ).toBe(202);
      let status: request.Response | undefined;
      await waitFor(
        async () => {
          status = await request(next.app)
            .get('/api/v1/encryption/rotation')
            .set(...bearer(tok.admin));
          return status.body.rotation?.status === 'finished';
        },
        40_000,
        'the rotation to finish',
        200,
      );
      status = status!;
      expect(status.body.usage).toMatchObject({ kA: 0 });
      expect(status.body.usage.kB).toBeGreaterThan(0);
      for (const collection of ['employees', 'users', 'otp_challenges']) {
        const raw = JSON.stringify(await next.container.database.db().collection(collection).find().toArray());
        expect({ collection, underA: raw.includes('v1.kA.') }).toEqual({ collection, underA: false });
      }
    } finally {
      await next.container.stop();
    }
    const onlyB = await buildTestApp(__filename, {
      ...ROUTE_TEST_ENV,
      MONGODB_URI: testMongoUri(t.dbName),
      REDIS_KEY_PREFIX: t.redisPrefix,
      ENCRYPTION_KEYS: KEY_B,
      BLIND_INDEX_KEY: BLIND,
    });
    try {
      const list = await request(onlyB.app)
        .get('/api/v1/employees?limit=100')
        .set(...bearer(tok.admin));
      expect(list.status).toBe(200);
      expect(list.body.items.find((e: { name: string }) => e.name === 'Finn')).toMatchObject({
        nationalId: 'FINN-1',
        bankAccount: 'DE44500105175407324931',
      });
      expect(await auditCount(onlyB, { action: 'encryption.rotation.finished' })).toBe(1);
      expect(await auditCount(onlyB, { action: 'encryption.rotation.started', actorId: ids.admin })).toBe(1);
      const code = execFileSync('oathtool', ['--totp', '-b', totpSecret], { encoding: 'utf8' }).trim();
      const erikNow = (await onlyB.container.models.User.findById(ids.erik).lean())!;
      await expect(onlyB.container.deps.identity.twoFactor.verifyTotpForUser(erikNow, code)).resolves.toBe(true);
      const challenge = await onlyB.container.database
        .db()
        .collection('otp_challenges')
        .findOne({ _id: challengeId as never });
      expect(
        onlyB.container.deps.protection.encryption.decrypt(
          challenge!.target as string,
          `otp_challenges/${challengeId}/target`,
        ),
      ).toBe('+4915112345678');
    } finally {
      await onlyB.container.stop();
    }
  }, 90_000);
});
