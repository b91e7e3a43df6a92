import request from 'supertest';
import type { TestApp } from './app';
import { mfaAccessToken } from './session-token';

export const PASSWORD = 'tangerine-harbour-73-quietly';

/** Creates a user through the real UserService (same path as the admin API and CLI). */
export async function createUser(
  t: TestApp,
  email: string,
  role = 'user',
  department: string | null = null,
  password = PASSWORD,
): Promise<string> {
  const u = await t.container.deps.identity.users.create(
    { email, name: email.split('@')[0], role, department, password },
    null,
  );
  return u.id;
}

/** Password login through HTTP; returns the body (tokens or an MFA challenge). */
export async function login(t: TestApp, email: string, password = PASSWORD, ip?: string): Promise<request.Response> {
  const req = request(t.app).post('/api/v1/auth/login');
  if (ip) req.set('X-Forwarded-For', ip);
  return req.send({ email, password });
}

export const bearer = (token: string): [string, string] => ['Authorization', `Bearer ${token}`];

/**
 * A real session and access token for a user, with the second factor marked as passed
 * (see mfaAccessToken): without driving a second factor in every test.
 */
export function mfaSession(t: TestApp, userId: string): Promise<string> {
  return mfaAccessToken(t.container, userId);
}
