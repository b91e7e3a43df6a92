import { createLogger } from '../../src/lib/logger';
import type { RedisClient } from '../../src/lib/redis';
import { SessionRevocation, type SessionFacts } from '../../src/services/auth/session-revocation';

/**
 * A SessionRevocation over real Redis whose source of truth is a plain map (session id →
 * facts) instead of MongoDB: for TokenService tests that sign tokens for hand-made sessions.
 */
export function revocationOver(
  redis: RedisClient,
  sessions: Record<string, SessionFacts>,
  accessTtlSeconds = 900,
): SessionRevocation {
  return new SessionRevocation({
    redis,
    lookup: async (sid) => (Object.hasOwn(sessions, sid) ? sessions[sid] : null),
    accessTtlSeconds,
    logger: createLogger({ level: 'silent' }),
  });
}
