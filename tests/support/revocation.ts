import { createLogger } from '../../src/lib/logger';
import type { RedisClient } from '../../src/lib/redis';
import { SessionRevocation, type SessionFacts } from '../../src/services/auth/session-revocation';

/** A hand-made session: who owns it and whether it ended; the rest defaults to a plain `user` session without 2FA. */
export type SessionStub = Pick<SessionFacts, 'userId' | 'ended'> & Partial<SessionFacts>;

export const factsOf = (stub: SessionStub): SessionFacts => ({
  role: 'user',
  department: null,
  mfa: false,
  enroll: false,
  ...stub,
});

/**
 * A SessionRevocation over real Redis whose source of truth is a plain map (session id →
 * facts) instead of MongoDB: for TokenService tests that sign tokens for hand-made sessions.
 */
export function revocationOver(
  redis: RedisClient,
  sessions: Record<string, SessionStub>,
  accessTtlSeconds = 900,
): SessionRevocation {
  return new SessionRevocation({
    redis,
    lookup: async (sid) => (Object.hasOwn(sessions, sid) ? factsOf(sessions[sid]) : null),
    accessTtlSeconds,
    logger: createLogger({ level: 'silent' }),
  });
}
