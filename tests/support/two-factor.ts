import request from 'supertest';
import type { TestApp } from './app';
import { lastCodeFor, type CapturedMail } from './peers';
import { bearer, createUser, login, PASSWORD } from './users';

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
  return enabled.body.backupCodes as string[];
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
