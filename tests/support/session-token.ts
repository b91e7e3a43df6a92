import type { Container } from '../../src/container';

/**
 * A real session (SessionService) and access token (TokenService) for a user, with the
 * second factor marked as passed: what a completed 2FA login produces. Takes a Container
 * so the benchmark seed (bench/support/seed.ts) and the tests (users.ts mfaSession) share it.
 */
export async function mfaAccessToken(c: Container, userId: string): Promise<string> {
  const user = await c.deps.identity.users.get(userId);
  const { session } = await c.sessions.create(userId, true);
  return c.tokens.signAccess({
    sub: userId,
    sid: session._id,
    role: user.role,
    dept: user.department,
    mfa: true,
    enroll: false,
  });
}
