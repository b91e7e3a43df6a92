import { randomBytes } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { RedisClient } from '../../lib/redis';
import type { SessionModel } from '../../models/session.model';
import type { UserModel } from '../../models/user.model';
import type { SingleUseClaims } from './single-use-claims';

/** What the database says about a session an access token names. */
export interface SessionFacts {
  userId: string;
  /** Revoked, expired, or its user is no longer active (disabled, erased, deleted). */
  ended: boolean;
}

/** The source of truth: null when no such session exists. */
export type SessionLookup = (sid: string) => Promise<SessionFacts | null>;

/** Reads a session's state from MongoDB: the session, its insert-only end record, and its user's status. */
export function sessionFactsFromDb(deps: {
  sessions: SessionModel;
  users: UserModel;
  claims: SingleUseClaims;
  now: () => Date;
}): SessionLookup {
  return async (sid) => {
    const [session, endedRecord] = await Promise.all([
      deps.sessions.findById(sid, { userId: 1, revokedAt: 1, expiresAt: 1 }).lean(),
      // FerretDB 1.x can lose `revokedAt` to a racing rotation; the end record cannot be lost (see SessionService).
      deps.claims.has(`session-ended:${sid}`),
    ]);
    if (!session) return null;
    const user = await deps.users.findById(session.userId, { status: 1 }).lean();
    return {
      userId: session.userId,
      ended:
        endedRecord ||
        session.revokedAt !== null ||
        session.expiresAt <= deps.now() ||
        !user ||
        user.status !== 'active',
    };
  };
}

export interface SessionRevocationDeps {
  redis: RedisClient;
  lookup: SessionLookup;
  accessTtlSeconds: number;
  logger: Logger;
}

const EPOCH_KEY = 'sess:epoch';
const stateKey = (sid: string): string => `sess:state:${sid}`;
/** Revocation is final, so a revoked mark is trusted whatever the epoch. */
const REVOKED = '0';
/** No such session (a forged token): session ids are random UUIDs, never issued later. */
const UNKNOWN = 'x';
/**
 * How long a "live" answer is trusted without asking MongoDB again: bounds what a missed
 * cache write (Redis unreachable during a revocation) or a user deleted behind the app's
 * back can cost. One point read per active session per minute.
 */
export const LIVE_TTL_SECONDS = 60;

/** Writes a live mark unless the session was marked revoked meanwhile (a revocation racing this cache fill). */
const SET_UNLESS_REVOKED = `
if redis.call('GET', KEYS[1]) == ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`;

/**
 * Whether a session's access tokens may still be used. MongoDB (sessions, their end records,
 * users) is the source of truth; Redis is a cache of per-session answers that knows when it
 * is cold: "live" marks carry the epoch written when the cache was (re)warmed, and count only
 * while that epoch key exists. A Redis that lost its data (restart without persistence,
 * FLUSHALL, eviction) has no epoch and no marks, so every check falls back to MongoDB and
 * refills the cache. Revoked marks are written at revocation and trusted on sight.
 * Redis unreachable: every check is refused with 503 (fail closed).
 */
export class SessionRevocation {
  /** A revocation could not reach Redis: live marks elsewhere may be stale until the epoch is dropped. */
  private epochSuspect = false;

  constructor(private readonly deps: SessionRevocationDeps) {
    deps.redis.on('ready', () => void this.dropSuspectEpoch().catch(() => undefined));
  }

  private get revokedTtlSeconds(): number {
    // Outlives every token of the session (clock skew included); after that MongoDB still answers.
    return this.deps.accessTtlSeconds + 120;
  }

  private async dropSuspectEpoch(): Promise<void> {
    if (!this.epochSuspect) return;
    await this.deps.redis.del(EPOCH_KEY);
    this.epochSuspect = false;
    this.deps.logger.warn('revocation cache epoch dropped after a revocation Redis missed; sessions are re-checked');
  }

  /** Throws 401 unless the session exists, has not ended and belongs to `userId`. */
  async assertLive(sid: string, userId: string): Promise<void> {
    let epoch: string | null;
    let state: string | null;
    try {
      await this.dropSuspectEpoch();
      // Two reads, not MGET: on a Redis Cluster the epoch and the session's mark live in
      // different slots, and one slot for every session would put all checks on one node.
      // Not atomic, and need not be: a mark counts only with the epoch it was written under.
      [epoch, state] = await Promise.all([this.deps.redis.get(EPOCH_KEY), this.deps.redis.get(stateKey(sid))]);
    } catch (err) {
      // Without the cache a revoked token cannot be told apart cheaply: refuse, do not guess.
      throw AppError.serviceUnavailable('Session checks are temporarily unavailable.', err, 5);
    }
    if (state === REVOKED) throw sessionEnded();
    if (state === UNKNOWN) throw invalidToken();
    if (epoch && state) {
      const sep = state.indexOf('|');
      if (state.slice(0, sep) === epoch) {
        if (state.slice(sep + 1) !== userId) throw invalidToken();
        return;
      }
    }
    await this.checkDatabase(sid, userId, epoch);
  }

  /** Cache miss or cold cache: ask MongoDB, and remember its answer. */
  private async checkDatabase(sid: string, userId: string, epoch: string | null): Promise<void> {
    let facts: SessionFacts | null;
    try {
      facts = await this.deps.lookup(sid);
    } catch (err) {
      throw AppError.serviceUnavailable('Session checks are temporarily unavailable.', err, 5);
    }
    const { redis } = this.deps;
    try {
      if (!facts || facts.ended) {
        await redis.set(stateKey(sid), facts ? REVOKED : UNKNOWN, 'EX', this.revokedTtlSeconds);
      } else {
        const current = epoch ?? (await this.warm());
        await redis.eval(SET_UNLESS_REVOKED, 1, stateKey(sid), `${current}|${facts.userId}`, LIVE_TTL_SECONDS, REVOKED);
      }
    } catch (err) {
      // MongoDB answered; a cache write that failed only costs the next check another read.
      this.deps.logger.warn({ err: { message: (err as Error).message } }, 'revocation cache write failed');
    }
    if (!facts || facts.userId !== userId) throw invalidToken();
    if (facts.ended) throw sessionEnded();
  }

  /** Marks the cache warm with a new epoch; concurrent warmers (other processes) agree on one. */
  private async warm(): Promise<string> {
    const fresh = randomBytes(12).toString('base64url');
    if ((await this.deps.redis.set(EPOCH_KEY, fresh, 'NX')) === 'OK') {
      this.deps.logger.info('revocation cache was cold: sessions are checked against MongoDB as they are seen');
      return fresh;
    }
    return (await this.deps.redis.get(EPOCH_KEY)) ?? fresh;
  }

  /**
   * Call after the sessions' end is written to MongoDB. Redis only speeds the refusal up:
   * if it cannot be reached, the epoch is dropped as soon as it can, so no stale live mark
   * is trusted (until then every check fails closed, or a mark lives at most LIVE_TTL_SECONDS).
   */
  async revoked(sids: string[]): Promise<void> {
    if (sids.length === 0) return;
    try {
      await Promise.all(sids.map((sid) => this.deps.redis.set(stateKey(sid), REVOKED, 'EX', this.revokedTtlSeconds)));
    } catch (err) {
      this.epochSuspect = true;
      this.deps.logger.error(
        { err: { message: (err as Error).message }, sessions: sids.length },
        'revocation not cached in Redis; MongoDB has it and the cache will be re-checked',
      );
    }
  }
}

const sessionEnded = (): AppError => AppError.unauthorized('The session has ended.', 'session-revoked');
const invalidToken = (): AppError => AppError.unauthorized('The token is invalid or expired.', 'invalid-token');
