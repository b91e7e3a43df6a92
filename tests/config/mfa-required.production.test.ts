import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { lastCodeFor, startSmtpPeer } from '../support/peers';
import { bearer, createUser, login, PASSWORD } from '../support/users';

const key32 = (): string => randomBytes(32).toString('base64');

/**
 * The production sign-in 2FA rule follows the grants a role holds (inherited ones
 * included), not its name. Nothing below sets MFA_REQUIRED_ROLES: the production default.
 */
describe('second factor required at sign-in, by grants, in production', () => {
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
      BCRYPT_COST: '10',
      RATE_LIMIT_AUTH: '1000/900',
      RATE_LIMIT_GENERAL: '10000/60',
    });
    const roles = t.container.deps.access.roles;
    await roles.upsert('team-lead', { parent: 'manager', grants: [] }, 'test');
    await roles.upsert('approver', { parent: 'user', grants: ['invoice:approve:own'] }, 'test');
    await roles.upsert('clerk-plus', { parent: 'user', grants: ['invoice:create:own'] }, 'test');
  });
  afterAll(async () => {
    await t.close();
    await smtp.stop();
  });

  const signIn = async (email: string) => {
    const res = await login(t, email);
    expect(res.status).toBe(200);
    expect(res.body.mfaRequired).toBe(false);
    return res.body as { accessToken: string; enrollmentRequired: boolean };
  };
  const draftBy = async (token: string, number: string): Promise<string> => {
    const res = await request(t.app)
      .post('/api/v1/invoices')
      .set(...bearer(token))
      .send({ number, customer: 'ACME', amount: 100, currency: 'EUR', department: 'sales' });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };

  it('when a custom role inheriting from manager signs in without a second factor, then it may only enroll and cannot approve an invoice', async () => {
    await createUser(t, 'clerk@prod-mfa.example', 'user', 'sales');
    const clerk = await signIn('clerk@prod-mfa.example');
    expect(clerk.enrollmentRequired).toBe(false);
    const invoice = await draftBy(clerk.accessToken, 'PROD-MFA-1');

    await createUser(t, 'lead@prod-mfa.example', 'team-lead', 'sales');
    const lead = await signIn('lead@prod-mfa.example');
    expect(lead.enrollmentRequired).toBe(true);
    const approve = await request(t.app)
      .post(`/api/v1/invoices/${invoice}/approve`)
      .set(...bearer(lead.accessToken));
    expect(approve.status).toBe(403);
    expect(approve.body.type).toMatch(/mfa-enrollment-required/);
    const stored = await t.container.models.Invoice.findById(invoice).lean();
    expect(stored!.status).toBe('draft');
  });

  it('when a custom role inheriting from manager enrolls and signs in with the second factor, then it approves', async () => {
    await createUser(t, 'clerk2@prod-mfa.example', 'user', 'sales');
    const invoice = await draftBy((await signIn('clerk2@prod-mfa.example')).accessToken, 'PROD-MFA-2');
    await createUser(t, 'lead2@prod-mfa.example', 'team-lead', 'sales');
    const first = await signIn('lead2@prod-mfa.example');
    const setup = await request(t.app)
      .post('/api/v1/auth/2fa/email/setup')
      .set(...bearer(first.accessToken))
      .send({ password: PASSWORD });
    expect(setup.status).toBeLessThan(300);
    const enable = await request(t.app)
      .post('/api/v1/auth/2fa/email/enable')
      .set(...bearer(first.accessToken))
      .send({ code: lastCodeFor(smtp.messages, 'lead2@prod-mfa.example') });
    expect(enable.status).toBeLessThan(300);
    const step1 = await login(t, 'lead2@prod-mfa.example');
    expect(step1.body.mfaRequired).toBe(true);
    await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: step1.body.mfaToken, method: 'email' });
    const verified = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({
        mfaToken: step1.body.mfaToken,
        method: 'email',
        code: lastCodeFor(smtp.messages, 'lead2@prod-mfa.example'),
      });
    expect(verified.status).toBe(200);
    const approve = await request(t.app)
      .post(`/api/v1/invoices/${invoice}/approve`)
      .set(...bearer(verified.body.accessToken as string));
    expect(approve.status).toBe(200);
    expect(approve.body.status).toBe('approved');
  });

  it('when a custom role adds one manager-level grant to user, then it must enroll; one adding only user-level grants need not', async () => {
    await createUser(t, 'approver@prod-mfa.example', 'approver', 'sales');
    expect((await signIn('approver@prod-mfa.example')).enrollmentRequired).toBe(true);
    await createUser(t, 'plus@prod-mfa.example', 'clerk-plus', 'sales');
    expect((await signIn('plus@prod-mfa.example')).enrollmentRequired).toBe(false);
  });
});
