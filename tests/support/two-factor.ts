import { execFileSync } from 'node:child_process';
import request from 'supertest';
import type { SenderTestApp, TestApp } from './app';
import { lastCodeFor, type CapturedMail } from './peers';
import { bearer, createUser, login, PASSWORD } from './users';

/** What an authenticator app shows at `at` (oathtool, RFC 6238 defaults: SHA-1, 6 digits, 30 s). */
export function oathtool(secret: string, at: Date): string {
  return execFileSync('oathtool', ['--totp', '-b', secret, '--now', `@${Math.floor(at.getTime() / 1000)}`], {
    encoding: 'utf8',
  }).trim();
}

/** Password step of a sign-in for a user with 2FA: the mfaToken. */
export async function passwordStep(t: TestApp, email: string, ip?: string): Promise<string> {
  const res = await login(t, email, PASSWORD, ip);
  expect(res.status).toBe(200);
  expect(res.body.mfaRequired).toBe(true);
  return res.body.mfaToken as string;
}

export interface Enrolled {
  userId: string;
  /** The access token of the password-only session the user enrolled from. */
  accessToken: string;
  refreshToken: string;
  /** The body of the enable call. */
  enabled: request.Response;
}

/** A new user who enrolled email 2FA through the real routes. */
export async function enrollEmail(s: SenderTestApp, email: string, role = 'user'): Promise<Enrolled> {
  const { t, smtp } = s;
  const userId = await createUser(t, email, role);
  const session = await login(t, email);
  expect(session.status).toBe(200);
  const { accessToken, refreshToken } = session.body as { accessToken: string; refreshToken: string };
  const enabled = await enableEmail(t, smtp, email, accessToken);
  return { userId, accessToken, refreshToken, enabled };
}

/** A new user who enrolled an authenticator app; `secret` is what the app was given. */
export async function enrollTotp(
  s: SenderTestApp,
  email: string,
  role = 'user',
): Promise<Enrolled & { secret: string; enableCode: string }> {
  const { t, clock } = s;
  const userId = await createUser(t, email, role);
  const session = await login(t, email);
  expect(session.status).toBe(200);
  const { accessToken, refreshToken } = session.body as { accessToken: string; refreshToken: string };
  const setup = await request(t.app)
    .post('/api/v1/auth/2fa/totp/setup')
    .set(...bearer(accessToken))
    .send({ password: PASSWORD });
  expect(setup.status).toBe(200);
  const secret = setup.body.secret as string;
  const enableCode = oathtool(secret, clock.now());
  const enabled = await request(t.app)
    .post('/api/v1/auth/2fa/totp/enable')
    .set(...bearer(accessToken))
    .send({ code: enableCode });
  expect(enabled.status).toBe(200);
  return { userId, accessToken, refreshToken, enabled, secret, enableCode };
}

/**
 * Enrolls email as the second factor of a signed-in user through the real routes (setup
 * with the password, then the mailed code); returns the backup codes the enable step shows.
 */
export async function enrollEmail2fa(
  t: TestApp,
  smtp: { messages: CapturedMail[] },
  email: string,
  accessToken: string,
): Promise<string[]> {
  return (await enableEmail(t, smtp, email, accessToken)).body.backupCodes as string[];
}

/** Email setup (with the password) and enable (with the mailed code) for a signed-in user: the enable response. */
async function enableEmail(
  t: TestApp,
  smtp: { messages: CapturedMail[] },
  email: string,
  accessToken: string,
): Promise<request.Response> {
  const setup = await request(t.app)
    .post('/api/v1/auth/2fa/email/setup')
    .set(...bearer(accessToken))
    .send({ password: PASSWORD });
  expect(setup.status).toBe(202);
  const enabled = await request(t.app)
    .post('/api/v1/auth/2fa/email/enable')
    .set(...bearer(accessToken))
    .send({ code: lastCodeFor(smtp.messages, email) });
  expect(enabled.status).toBe(200);
  return enabled;
}

/**
 * A new user (created through UserService) who signed in with the password and enrolled
 * email 2FA through the real routes. `accessToken` is that first, password-only session.
 */
export async function userWithEmail2fa(
  t: TestApp,
  smtp: { messages: CapturedMail[] },
  email: string,
  role = 'user',
  department: string | null = null,
): Promise<{ userId: string; accessToken: string; backupCodes: string[] }> {
  const userId = await createUser(t, email, role, department);
  const signedIn = await login(t, email);
  expect(signedIn.body.mfaRequired).toBe(false);
  const accessToken = signedIn.body.accessToken as string;
  return { userId, accessToken, backupCodes: await enrollEmail2fa(t, smtp, email, accessToken) };
}
