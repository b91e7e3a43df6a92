import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { startSmtpPeer } from '../support/peers';
import { bearer, createUser, login } from '../support/users';

const key32 = (): string => randomBytes(32).toString('base64');

/**
 * Configuration defaults as the running app applies them: nothing below sets BCRYPT_COST,
 * MFA_REQUIRED_ROLES or HSTS_ENABLED.
 */
describe('configuration defaults in the real app', () => {
  const storedHash = async (t: TestApp, id: string): Promise<string> =>
    (await t.container.models.User.findById(id).lean())!.passwordHash;

  /** What a freshly signed-in user of `role` may do: full session, or enrollment only. */
  const sessionOf = async (t: TestApp, email: string, role: string): Promise<{ enrollmentRequired: boolean }> => {
    await createUser(t, email, role, role === 'admin' ? null : 'sales');
    const res = await login(t, email);
    expect(res.status).toBe(200);
    expect(res.body.mfaRequired).toBe(false);
    const s = await request(t.app)
      .get('/api/v1/auth/session')
      .set(...bearer(res.body.accessToken as string));
    expect(s.status).toBe(200);
    return s.body as { enrollmentRequired: boolean };
  };

  describe('outside production', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp(__filename, { RATE_LIMIT_AUTH: '1000/900' });
    });
    afterAll(async () => {
      await t.close();
    });

    it('when BCRYPT_COST is not set, then a password the app hashes has cost 12', async () => {
      expect(t.config.passwords.bcryptCost).toBe(12);
      const id = await createUser(t, 'default.cost@defaults.example');
      const hash = await storedHash(t, id);
      expect(hash).toMatch(/^\$2[aby]\$12\$/);
      expect(bcrypt.getRounds(hash)).toBe(12);
    });

    it('when MFA_REQUIRED_ROLES is not set, then no role is held to enrollment and no HSTS header is sent', async () => {
      expect(await sessionOf(t, 'manager@dev-defaults.example', 'manager')).toMatchObject({
        enrollmentRequired: false,
      });
      expect((await request(t.app).get('/health/live')).headers['strict-transport-security']).toBeUndefined();
    });
  });

  describe('in production', () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof startSmtpPeer>>;
    beforeAll(async () => {
      smtp = await startSmtpPeer();
      t = await buildTestApp(__filename, {
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        JWT_SECRET: randomBytes(32).toString('hex'),
        ENCRYPTION_KEYS: `k1:${key32()}`,
        BLIND_INDEX_KEY: key32(),
        AUDIT_HMAC_KEYS: `a1:${key32()}`,
        TRUST_PROXY: '1',
        SMTP_URL: smtp.url,
        HSTS_PRELOAD: 'true',
        RATE_LIMIT_AUTH: '1000/900',
      });
    });
    afterAll(async () => {
      await t.close();
      await smtp.stop();
    });

    it('when BCRYPT_COST is not set, then production hashes at cost 12 too', async () => {
      const id = await createUser(t, 'prod.cost@defaults.example');
      expect(bcrypt.getRounds(await storedHash(t, id))).toBe(12);
    });

    it('when MFA_REQUIRED_ROLES is not set, then admins and managers can only enroll a second factor, and other roles sign in fully', async () => {
      expect(t.config.auth.mfaRequiredRoles).toEqual(['admin', 'manager']);
      expect(await sessionOf(t, 'admin@prod-defaults.example', 'admin')).toMatchObject({ enrollmentRequired: true });
      expect(await sessionOf(t, 'manager@prod-defaults.example', 'manager')).toMatchObject({
        enrollmentRequired: true,
      });
      expect(await sessionOf(t, 'clerk@prod-defaults.example', 'user')).toMatchObject({ enrollmentRequired: false });
    });

    it('when HSTS_PRELOAD is set, then production sends HSTS (on by default) with preload', async () => {
      const res = await request(t.app).get('/health/live');
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains; preload');
    });
  });
});
