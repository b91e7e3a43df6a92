import request from 'supertest';
import type { TestApp } from './app';
import { SoftAuthenticator, type CreationOptions, type SoftCredential, type Tamper } from './soft-authenticator';
import { bearer, createUser, login, PASSWORD } from './users';

/** The frontend origin and RP id the passkey tests configure (it must be in CORS_ORIGINS). */
export const PASSKEY_ORIGIN = 'https://erp.passkeys.test';
export const PASSKEY_RP_ID = 'erp.passkeys.test';
export const PASSKEY_ENV: Readonly<Record<string, string>> = {
  CORS_ORIGINS: PASSKEY_ORIGIN,
  PASSKEY_RP_ID,
};

export const passkeyApi = '/api/v1/auth/passkeys';

/** Registration options for a signed-in user (password given again). */
export async function registrationOptions(t: TestApp, accessToken: string): Promise<CreationOptions> {
  const res = await request(t.app)
    .post(`${passkeyApi}/registration/options`)
    .set(...bearer(accessToken))
    .send({ password: PASSWORD });
  expect(res.status).toBe(200);
  return res.body as CreationOptions;
}

/** A full registration through the routes; returns the verify response and the authenticator's credential. */
export async function registerPasskey(
  t: TestApp,
  authenticator: SoftAuthenticator,
  accessToken: string,
  opts: { name?: string; tamper?: Tamper } = {},
): Promise<{ res: request.Response; credential: SoftCredential }> {
  const options = await registrationOptions(t, accessToken);
  const { response, credential } = authenticator.create(options, opts.tamper);
  const res = await request(t.app)
    .post(`${passkeyApi}/registration/verify`)
    .set(...bearer(accessToken))
    .send({ credential: response, ...(opts.name ? { name: opts.name } : {}) });
  return { res, credential };
}

/** A new user who signed in with the password and registered one passkey (their first factor). */
export async function userWithPasskey(
  t: TestApp,
  authenticator: SoftAuthenticator,
  email: string,
  role = 'user',
): Promise<{ userId: string; credential: SoftCredential; accessToken: string }> {
  const userId = await createUser(t, email, role);
  const signedIn = await login(t, email);
  expect(signedIn.status).toBe(200);
  const { res, credential } = await registerPasskey(t, authenticator, signedIn.body.accessToken as string);
  expect(res.status).toBe(201);
  return { userId, credential: authenticator.keep(credential), accessToken: res.body.accessToken as string };
}

/** Second-step options for the sign-in `mfaToken` stands for. */
export async function secondStepOptions(t: TestApp, mfaToken: string): Promise<{ challenge: string; rpId?: string }> {
  const res = await request(t.app).post(`${passkeyApi}/authentication/options`).send({ mfaToken });
  expect(res.status).toBe(200);
  return res.body as { challenge: string; rpId?: string };
}
