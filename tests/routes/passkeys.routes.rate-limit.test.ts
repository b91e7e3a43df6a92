import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { expectProblem } from '../support/problems';
import { PASSKEY_ENV, PASSKEY_ORIGIN, PASSKEY_RP_ID, passkeyApi, userWithPasskey } from '../support/passkeys';
import { SoftAuthenticator, type SoftCredential } from '../support/soft-authenticator';

/**
 * Passwordless sign-in under the production auth tier (5 requests per 15 minutes): its bucket
 * is the client IP and the passkey, so colleagues behind one office NAT each have their own,
 * and one passkey still cannot be tried more than the tier allows.
 */
describe('passwordless sign-in and the auth rate-limit tier', () => {
  let t: TestApp;
  const authenticator = new SoftAuthenticator(PASSKEY_ORIGIN, PASSKEY_RP_ID);

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      ...PASSKEY_ENV,
      PASSKEY_PASSWORDLESS_ROLES: 'manager',
      BCRYPT_COST: '10',
      RATE_LIMIT_AUTH: '5/900',
      RATE_LIMIT_GENERAL: '10000/60',
    });
  });
  afterAll(() => t.close());

  async function signInWithout(credential: SoftCredential): Promise<request.Response> {
    const options = await request(t.app).post(`${passkeyApi}/passwordless/options`);
    expect(options.status).toBe(200);
    return request(t.app)
      .post(`${passkeyApi}/passwordless/verify`)
      .send({ credential: authenticator.get(options.body, credential) });
  }

  it('when six colleagues sign in without a password from one address, then each succeeds; the sixth try of one passkey within the window is 429', async () => {
    const colleagues = [];
    for (let i = 0; i < 6; i++)
      colleagues.push(await userWithPasskey(t, authenticator, `pwless.${i}@nat.example`, 'manager'));
    for (const c of colleagues) expect((await signInWithout(c.credential)).status).toBe(200);

    const first = colleagues[0].credential;
    for (let i = 0; i < 4; i++) expect((await signInWithout(first)).status).toBe(200);
    const limited = await signInWithout(first);
    expectProblem(limited, 429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another colleague's passkey from the same address is not affected.
    expect((await signInWithout(colleagues[1].credential)).status).toBe(200);
  });
});
