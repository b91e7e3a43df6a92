import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { testMongoUri } from '../support/env';
import { createUser, mfaSession, bearer, PASSWORD } from '../support/users';

const KEY_A = `kA:${randomBytes(32).toString('base64')}`;
const KEY_B = `kB:${randomBytes(32).toString('base64')}`;
const BLIND = randomBytes(32).toString('base64');

describe('GDPR export and erasure, key rotation, and API keys over HTTP', () => {
  let t: TestApp;
  const tok: Record<string, string> = {};
  const ids: Record<string, string> = {};
  let employeeId: string;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '10000/60',
      ENCRYPTION_KEYS: KEY_A,
      BLIND_INDEX_KEY: BLIND,
    });
    ids.admin = await createUser(t, 'root@corp.example', 'admin', 'it');
    ids.dana = await createUser(t, 'dana@corp.example', 'user', 'sales');
    ids.erik = await createUser(t, 'erik@corp.example', 'user', 'sales');
    for (const k of Object.keys(ids)) tok[k] = await mfaSession(t, ids[k]);
    employeeId = (
      await request(t.app)
        .post('/api/v1/employees')
        .set(...bearer(tok.admin))
        .send({
          name: 'Dana Doe',
          workEmail: 'dana.doe@corp.example',
          department: 'sales',
          userId: ids.dana,
          phone: '+4917612345678',
          nationalId: 'DANA-NID-0042',
          bankAccount: 'DE02120300000000202051',
          salary: 4_800_000,
        })
    ).body.id;
  });
  afterAll(() => t.close());

  it('when a user exports their data, then it holds their profile, employee record and audit entries; another user gets 404', async () => {
    const res = await request(t.app)
      .get(`/api/v1/gdpr/users/${ids.dana}/export`)
      .set(...bearer(tok.dana));
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toMatch(/attachment/);
    expect(res.body.user).toMatchObject({ email: 'dana@corp.example', role: 'user' });
    expect(res.body.employeeRecords[0]).toMatchObject({
      id: employeeId,
      nationalId: 'DANA-NID-0042',
      bankAccount: 'DE02120300000000202051',
    });
    expect(JSON.stringify(res.body)).not.toMatch(/passwordHash|refreshHash|"hash"/);
    expect(
      (
        await request(t.app)
          .get(`/api/v1/gdpr/users/${ids.dana}/export`)
          .set(...bearer(tok.erik))
      ).status,
    ).toBe(404);
    expect(
      (
        await request(t.app)
          .get(`/api/v1/gdpr/users/${ids.dana}/export`)
          .set(...bearer(tok.admin))
      ).status,
    ).toBe(200);
    expect(
      await t.container.database
        .db()
        .collection('audit_events')
        .countDocuments({ action: 'gdpr.exported', resourceId: ids.dana }),
    ).toBe(2);
  });

  it('when an admin erases a user, then no personal value remains anywhere and the audit chain still verifies', async () => {
    // A signed-in session from a known device, and an API key with a personal name.
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/login')
          .set('User-Agent', 'DanaPhone/1.0')
          .send({ email: 'dana@corp.example', password: PASSWORD })
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .post('/api/v1/api-keys')
          .set(...bearer(tok.dana))
          .send({ name: "dana's laptop", scopes: [], expiresAt: new Date(Date.now() + 86_400_000).toISOString() })
      ).status,
    ).toBe(201);
    expect(
      JSON.stringify(await t.container.database.db().collection('sessions').find({ userId: ids.dana }).toArray()),
    ).toContain('DanaPhone/1.0');
    const res = await request(t.app)
      .post(`/api/v1/gdpr/users/${ids.dana}/erase`)
      .set(...bearer(tok.admin));
    expect(res.status).toBe(200);
    const db = t.container.database.db();
    const dump = JSON.stringify(
      await Promise.all(
        ['users', 'employees', 'audit_events', 'sessions', 'otp_challenges', 'api_keys'].map((c) =>
          db.collection(c).find().toArray(),
        ),
      ),
    );
    for (const pii of ['dana@corp.example', 'Dana Doe', 'dana.doe@corp.example', "dana's laptop"])
      expect(dump).not.toContain(pii);
    const sessions = await db.collection('sessions').find({ userId: ids.dana }).toArray();
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.filter((x) => x.ip !== null || x.userAgent !== null)).toEqual([]);
    const emp = await request(t.app)
      .get(`/api/v1/employees/${employeeId}`)
      .set(...bearer(tok.admin));
    expect(emp.body).toMatchObject({
      name: 'Erased employee',
      nationalId: null,
      bankAccount: null,
      phone: null,
      salary: null,
    });
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(tok.dana))
      ).status,
    ).toBe(401);
    const verify = await request(t.app)
      .get('/api/v1/audit/verify')
      .set(...bearer(tok.admin));
    expect(verify.body.intact).toBe(true);
    expect(await db.collection('audit_events').countDocuments({ action: 'gdpr.erased', resourceId: ids.dana })).toBe(1);
  });

  it('when an API key is used, then it works within its scopes, gets 403 outside them, and 401 once revoked', async () => {
    const created = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(tok.admin))
      .send({
        name: 'reporting',
        scopes: ['invoice:read:any'],
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect((await request(t.app).get('/api/v1/invoices').set('X-API-Key', key)).status).toBe(200);
    const outside = await request(t.app).get('/api/v1/employees').set('X-API-Key', key);
    expect(outside.status).toBe(403);
    expect((await request(t.app).get('/api/v1/api-keys').set('X-API-Key', key)).status).toBe(403);
    expect(
      (
        await request(t.app)
          .delete(`/api/v1/api-keys/${created.body.id}`)
          .set(...bearer(tok.admin))
      ).status,
    ).toBe(204);
    const revoked = await request(t.app).get('/api/v1/invoices').set('X-API-Key', key);
    expect(revoked.status).toBe(401);
    expect(revoked.body.type).toMatch(/invalid-api-key/);
    expect(
      await t.container.database
        .db()
        .collection('audit_events')
        .countDocuments({ action: 'apikey.revoked', resourceId: created.body.id }),
    ).toBe(1);
    const tooWide = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(tok.erik))
      .send({ name: 'x', scopes: ['invoice:read:any'], expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect(tooWide.status).toBe(403);
  });

  it('when the keyring gains key B and an admin rotates, then everything reads under B, nothing stays under A, and A can be retired', async () => {
    await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(tok.admin))
      .send({
        name: 'Finn',
        workEmail: 'finn@corp.example',
        department: 'sales',
        nationalId: 'FINN-1',
        bankAccount: 'DE44500105175407324931',
      });
    // Values the TwoFactorAuthService encrypts itself (not through the plugin) must rotate too:
    // erik's authenticator secret, and a phone number in a pending enrollment code.
    const erik = (await t.container.models.User.findById(ids.erik).lean())!;
    const { secret: totpSecret } = await t.container.deps.twoFactor.setupTotp(erik);
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
        target: t.container.deps.encryption.encrypt('+4915112345678', `otp_challenges/${challengeId}/target`),
        sentAt: new Date(),
        expiresAt: new Date(Date.now() + 600_000),
        attempts: 0,
        consumedAt: null,
      });
    const next = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '10000/60',
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
      let status: request.Response;
      const deadline = Date.now() + 20_000;
      do {
        await new Promise((r) => setTimeout(r, 200));
        status = await request(next.app)
          .get('/api/v1/encryption/rotation')
          .set(...bearer(tok.admin));
      } while (status.body.rotation?.status !== 'finished' && Date.now() < deadline);
      expect(status.body.rotation.status).toBe('finished');
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
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '10000/60',
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
      expect(
        await onlyB.container.database
          .db()
          .collection('audit_events')
          .countDocuments({ action: 'encryption.rotation.finished' }),
      ).toBe(1);
      expect(
        await onlyB.container.database
          .db()
          .collection('audit_events')
          .countDocuments({ action: 'encryption.rotation.started', actorId: ids.admin }),
      ).toBe(1);
      const code = execFileSync('oathtool', ['--totp', '-b', totpSecret], { encoding: 'utf8' }).trim();
      const erikNow = (await onlyB.container.models.User.findById(ids.erik).lean())!;
      await expect(onlyB.container.deps.twoFactor.verifyTotpForUser(erikNow, code)).resolves.toBe(true);
      const challenge = await onlyB.container.database
        .db()
        .collection('otp_challenges')
        .findOne({ _id: challengeId as never });
      expect(
        onlyB.container.deps.encryption.decrypt(challenge!.target as string, `otp_challenges/${challengeId}/target`),
      ).toBe('+4915112345678');
    } finally {
      await onlyB.container.stop();
    }
  }, 60_000);
});
