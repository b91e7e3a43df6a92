import { execFileSync } from 'node:child_process';
import request from 'supertest';
import type { SenderTestApp, TestApp } from './app';
import { lastCodeFor } from './peers';
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
