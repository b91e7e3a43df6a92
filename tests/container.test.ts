import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { buildTestApp, type TestApp } from './support/app';
import { leakedIn } from './support/secrets';

/**
 * A config object or a service logged by mistake (or dumped by a debugger, or serialised
 * into an error report) must not carry key material: the config holds secrets as Secret,
 * and services keep KeyObjects or credentialed clients behind a safe inspect.
 */
describe('composition root: no secret is printable', () => {
  const secrets = {
    jwtSecret: randomBytes(32).toString('base64url'),
    encryptionKey: randomBytes(32),
    oldEncryptionKey: randomBytes(32),
    blindIndexKey: randomBytes(32),
    pepper: randomBytes(24).toString('hex'),
    smtpPassword: 'smtp-' + randomBytes(12).toString('hex'),
    twilioToken: randomBytes(16).toString('hex'),
    bootstrapPassword: 'bootstrap ' + randomBytes(12).toString('hex'),
  };
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      JWT_SECRET: secrets.jwtSecret,
      ENCRYPTION_KEYS: `old:${secrets.oldEncryptionKey.toString('base64')},k2:${secrets.encryptionKey.toString('base64')}`,
      BLIND_INDEX_KEY: secrets.blindIndexKey.toString('base64'),
      PASSWORD_PEPPER: secrets.pepper,
      SMTP_URL: `smtp://mailer:${secrets.smtpPassword}@127.0.0.1:2525`,
      TWILIO_ACCOUNT_SID: 'AC' + 'a'.repeat(32),
      TWILIO_AUTH_TOKEN: secrets.twilioToken,
      TWILIO_FROM_NUMBER: '+15005550006',
      BOOTSTRAP_ADMIN_EMAIL: 'root@example.com',
      BOOTSTRAP_ADMIN_PASSWORD: secrets.bootstrapPassword,
    });
  });
  afterAll(() => t.close());

  it('when the config is inspected, serialised or logged, then no secret shows in any encoding', () => {
    t.logger.info({ config: t.config }, 'config dump');
    const shown = [inspect(t.config, { depth: Infinity }), JSON.stringify(t.config), t.logs.text].join('\n');
    expect(leakedIn(shown, secrets)).toEqual([]);
  });

  it('when the key-holding services are inspected, then no secret shows in any encoding', () => {
    const { encryption } = t.container.deps.protection;
    const { apiKeys, twoFactor, auth } = t.container.deps.identity;
    const services = { encryption, apiKeys, tokens: t.container.tokens, sessions: t.container.sessions };
    const shown = [inspect(services, { depth: 6 }), inspect(twoFactor, { depth: 2 }), inspect(auth, { depth: 2 })].join(
      '\n',
    );
    expect(leakedIn(shown, secrets)).toEqual([]);
    expect(inspect(encryption)).toBe('EncryptionService(keys old, k2; active k2)');
  });

  it('when the secrets are used, then they still work: the bootstrap admin signs in with its password', async () => {
    const { default: request } = await import('supertest');
    const res = await request(t.app)
      .post('/api/v1/auth/login')
      .send({ email: 'root@example.com', password: secrets.bootstrapPassword });
    expect(res.status).toBe(200);
    expect(
      typeof (res.body as { accessToken?: unknown }).accessToken === 'string' ||
        (res.body as { mfaRequired?: unknown }).mfaRequired === true,
    ).toBe(true);
  });
});
