import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../../support/app';
import { auditEvents } from '../../support/audit';
import { waitFor } from '../../support/wait';
import { bearer, createUser, login, mfaSession, PASSWORD } from '../../support/users';

/**
 * The audit entry each security-relevant action writes, checked field by field against
 * the HTTP request that caused it (matched by the X-Request-Id the test sends).
 */
describe('audit entries written by API-key, GDPR, rotation, refresh-reuse and 2FA-disable actions', () => {
  let t: TestApp;
  let adminId: string;
  let admin: string;

  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
    adminId = await createUser(t, 'root@audit-events.example', 'admin', 'it');
    admin = await mfaSession(t, adminId);
  });
  afterAll(() => t.close());
  // Whatever a test wrote, the hash chain still verifies afterwards (a failure here fails that test).
  afterEach(async () => {
    const verify = await request(t.app)
      .get('/api/v1/audit/verify')
      .set(...bearer(admin));
    expect(verify.status).toBe(200);
    expect(verify.body.intact).toBe(true);
  });

  const events = () => auditEvents(t);
  /** The one entry of `action` written while serving the request with this id. */
  const entryFor = async (requestId: string, action: string) => {
    const found = await events().find({ requestId, action }).toArray();
    expect(found).toHaveLength(1);
    return found[0];
  };

  const newApiKey = async (name: string): Promise<string> => {
    const res = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(admin))
      .send({ name, scopes: ['invoice:read:any'], expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };

  it('when an API key is revoked, then apikey.revoked names the revoker and the key', async () => {
    const id = await newApiKey('to-revoke');
    const res = await request(t.app)
      .delete(`/api/v1/api-keys/${id}`)
      .set(...bearer(admin))
      .set('X-Request-Id', 'audit-apikey-revoke')
      .set('User-Agent', 'audit-test/1');
    expect(res.status).toBe(204);
    expect(await entryFor('audit-apikey-revoke', 'apikey.revoked')).toMatchObject({
      outcome: 'succeeded',
      actorId: adminId,
      actorRole: 'admin',
      resource: 'apikey',
      resourceId: id,
      userAgent: 'audit-test/1',
      ip: expect.any(String),
    });
  });

  it('when an API key is rotated, then apikey.rotated names the key and the overlap, and never the secret', async () => {
    const id = await newApiKey('to-rotate');
    const res = await request(t.app)
      .post(`/api/v1/api-keys/${id}/rotate`)
      .set(...bearer(admin))
      .set('X-Request-Id', 'audit-apikey-rotate')
      .send({ overlapSeconds: 120 });
    expect(res.status).toBe(200);
    const entry = await entryFor('audit-apikey-rotate', 'apikey.rotated');
    expect(entry).toMatchObject({
      outcome: 'succeeded',
      actorId: adminId,
      resource: 'apikey',
      resourceId: id,
      details: { overlapSeconds: 120 },
    });
    expect(JSON.stringify(entry)).not.toContain(res.body.key as string);
  });

  it('when personal data is exported, then gdpr.exported names who exported whose data', async () => {
    const danaId = await createUser(t, 'dana@audit-events.example', 'user', 'sales');
    const dana = await mfaSession(t, danaId);
    expect(
      (
        await request(t.app)
          .post(`/api/v1/gdpr/users/${danaId}/export`)
          .set(...bearer(dana))
          .set('X-Request-Id', 'audit-gdpr-self')
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .post(`/api/v1/gdpr/users/${danaId}/export`)
          .set(...bearer(admin))
          .set('X-Request-Id', 'audit-gdpr-admin')
      ).status,
    ).toBe(200);
    expect(await entryFor('audit-gdpr-self', 'gdpr.exported')).toMatchObject({
      outcome: 'succeeded',
      actorId: danaId,
      actorRole: 'user',
      resource: 'user',
      resourceId: danaId,
    });
    expect(await entryFor('audit-gdpr-admin', 'gdpr.exported')).toMatchObject({
      outcome: 'succeeded',
      actorId: adminId,
      actorRole: 'admin',
      resource: 'user',
      resourceId: danaId,
    });
  });

  it('when key rotation is started, then encryption.rotation.started names the admin and the target key', async () => {
    const res = await request(t.app)
      .post('/api/v1/encryption/rotation')
      .set(...bearer(admin))
      .set('X-Request-Id', 'audit-rotation');
    expect(res.status).toBe(202);
    await waitFor(
      async () => (await events().countDocuments({ action: 'encryption.rotation.finished', actorId: adminId })) > 0,
      40_000,
      'the rotation to finish',
      100,
    );
    const started = await events().find({ action: 'encryption.rotation.started' }).toArray();
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({
      outcome: 'succeeded',
      actorId: adminId,
      resource: 'encryption-key',
      resourceId: res.body.activeKeyId,
      requestId: 'audit-rotation',
    });
  });

  it('when a spent refresh token is presented again, then auth.refresh.reuse-detected names the user and the session, and the session is over', async () => {
    const userId = await createUser(t, 'reuse@audit-events.example');
    const first = (await login(t, 'reuse@audit-events.example')).body as { refreshToken: string; accessToken: string };
    const second = await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: first.refreshToken });
    expect(second.status).toBe(200);
    const reused = await request(t.app)
      .post('/api/v1/auth/refresh')
      .set('X-Request-Id', 'audit-refresh-reuse')
      .send({ refreshToken: first.refreshToken });
    expect(reused.status).toBe(401);
    expect(reused.body.type).toMatch(/refresh-token-reused/);
    const sessionId = first.refreshToken.split('.')[0];
    expect(await entryFor('audit-refresh-reuse', 'auth.refresh.reuse-detected')).toMatchObject({
      outcome: 'denied',
      actorId: userId,
      resource: 'session',
      resourceId: sessionId,
    });
    expect(
      (await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: second.body.refreshToken })).status,
    ).toBe(401);
    expect(JSON.stringify(await events().find({ actorId: userId }).toArray())).not.toContain(
      first.refreshToken.split('.')[2],
    );
  });

  it('when 2FA is turned off with the password and a valid code, then mfa.disabled is written; a wrong code writes only a failed attempt', async () => {
    const userId = await createUser(t, 'disabler@audit-events.example');
    const access = (await login(t, 'disabler@audit-events.example')).body.accessToken as string;
    const setup = await request(t.app)
      .post('/api/v1/auth/2fa/totp/setup')
      .set(...bearer(access))
      .send({ password: PASSWORD });
    expect(setup.status).toBe(200);
    const code = execFileSync('oathtool', ['--totp', '-b', setup.body.secret as string], { encoding: 'utf8' }).trim();
    const enabled = await request(t.app)
      .post('/api/v1/auth/2fa/totp/enable')
      .set(...bearer(access))
      .send({ code });
    expect(enabled.status).toBe(200);
    const backupCodes = enabled.body.backupCodes as string[];

    const wrong = await request(t.app)
      .post('/api/v1/auth/2fa/disable')
      .set(...bearer(access))
      .set('X-Request-Id', 'audit-mfa-disable-wrong')
      .send({ password: PASSWORD, method: 'backup', code: 'aaaa-bbbb' });
    expect(wrong.status).toBe(403);
    expect(await entryFor('audit-mfa-disable-wrong', 'mfa.disable')).toMatchObject({
      outcome: 'failed',
      actorId: userId,
    });
    expect(await events().countDocuments({ action: 'mfa.disabled', actorId: userId })).toBe(0);

    const ok = await request(t.app)
      .post('/api/v1/auth/2fa/disable')
      .set(...bearer(access))
      .set('X-Request-Id', 'audit-mfa-disable')
      .send({ password: PASSWORD, method: 'backup', code: backupCodes[0] });
    expect(ok.status).toBe(204);
    const entry = await entryFor('audit-mfa-disable', 'mfa.disabled');
    expect(entry).toMatchObject({ outcome: 'succeeded', actorId: userId, resource: 'user', resourceId: userId });
    expect(JSON.stringify(entry)).not.toContain(backupCodes[0]);
    expect((await t.container.models.User.findById(userId).lean())!.mfa.methods).toEqual([]);
  });
});
