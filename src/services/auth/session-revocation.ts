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
  /**
   * What the session may do, as stored now (not as its access token said when it was signed):
   * the user's role and department, whether the session passed a second factor, and whether
   * it may only enroll one. A role change or 2FA reset takes effect on the next request.
   */
  role: string;
  department: string | null;
  mfa: boolean;
  enroll: boolean;
}

/** The source of truth: null when no such session exists. */
export type SessionLookup = (sid: string) => Promise<SessionFacts | null>;

/** Reads a session's state from MongoDB: the session, its insert-only end record, and its user. */
export function sessionFactsFromDb(deps: {
  sessions: SessionModel;
  users: UserModel;
  claims: SingleUseClaims;
  /** Whether holders of a role must enroll a second factor (AccessPolicy.requiresSecondFactor). */
  secondFactorRequired: (role: string) => Promise<boolean>;
  now: () => Date;
}): SessionLookup {
  return async (sid) => {
    const [session, endedRecord] = await Promise.all([
      deps.sessions.findById(sid, { userId: 1, revokedAt: 1, expiresAt: 1, mfa: 1 }).lean(),
      // FerretDB 1.x can lose `revokedAt` to a racing rotation; the end record cannot be lost (see SessionService).
      deps.claims.has(`session-ended:${sid}`),
    ]);
    if (!session) return null;
    const user = await deps.users
      .findById(session.userId, { status: 1, role: 1, department: 1, 'mfa.methods': 1, 'mfa.enrollmentRequired': 1 })
      .lean();
    const ended =
      endedRecord || session.revokedAt !== null || session.expiresAt <= deps.now() || !user || user.status !== 'active';
    if (!user || ended)
      return { userId: session.userId, ended: true, role: '', department: null, mfa: false, enroll: false };
    const methods = user.mfa?.methods ?? [];
    return {
      userId: session.userId,
      ended,
      role: user.role,
      department: user.department ?? null,
      mfa: session.mfa === true,
      // The same rule AuthService.mustEnroll applies when it signs a token.
      enroll:
        methods.length === 0 && (user.mfa?.enrollmentRequired === true || (await deps.secondFactorRequired(user.role))),
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

/**
 * Writes a live mark only if the session's state is still what the check read before asking
 * MongoDB (compare and set): a revocation or a change of the session's facts landing meanwhile
 * wins, so a stale answer is never cached over it.
 */
const SET_IF_UNCHANGED = `
local cur = redis.call('GET', KEYS[1])
if (cur or '') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`;

/** Replaces a session's live mark by a "changed" mark (a miss that no stale fill may overwrite), unless it was revoked. */
const MARK_CHANGED = `
if redis.call('GET', KEYS[1]) == ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1`;

/** Prefix of a "changed" mark: the session's facts changed; read MongoDB again. */
const CHANGED = 'c:';

/** A live mark: `<epoch>|<json [userId, role, department, mfa, enroll]>`. */
const liveMark = (epoch: string, f: SessionFacts): string =>
  `${epoch}|${JSON.stringify([f.userId, f.role, f.department, f.mfa, f.enroll])}`;

/** The facts in a live mark of `epoch`, or null when it is not one (older format, other epoch, corrupt). */
function parseLiveMark(state: string, epoch: string): SessionFacts | null {
  if (state.length <= epoch.length + 1 || !state.startsWith(epoch) || state[epoch.length] !== '|') return null;
  try {
    const v = JSON.parse(state.slice(epoch.length + 1)) as unknown;
    if (!Array.isArray(v) || v.length !== 5) return null;
    const [userId, role, department, mfa, enroll] = v as unknown[];
    if (
      typeof userId !== 'string' ||
      typeof role !== 'string' ||
      (department !== null && typeof department !== 'string') ||
      typeof mfa !== 'boolean' ||
      typeof enroll !== 'boolean'
    )
      return null;
    return { userId, ended: false, role, department, mfa, enroll };
  } catch {
    return null;
  }
}

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
    await this.liveFacts(sid, userId);
  }

  /**
   * The session's current facts (role, department, 2FA state) when it exists, has not ended
   * and belongs to `userId`; else 401. One Redis read when cached, MongoDB on a miss.
   */
  async liveFacts(sid: string, userId: string): Promise<SessionFacts> {
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
      const facts = parseLiveMark(state, epoch);
      if (facts) {
        if (facts.userId !== userId) throw invalidToken();
        return facts;
      }
    }
    return this.checkDatabase(sid, userId, epoch, state);
  }

  /** Cache miss or cold cache: ask MongoDB, and remember its answer unless the state changed meanwhile. */
  private async checkDatabase(
    sid: string,
    userId: string,
    epoch: string | null,
    seen: string | null,
  ): Promise<SessionFacts> {
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
        await redis.eval(SET_IF_UNCHANGED, 1, stateKey(sid), liveMark(current, facts), LIVE_TTL_SECONDS, seen ?? '');
      }
    } catch (err) {
      // MongoDB answered; a cache write that failed only costs the next check another read.
      this.deps.logger.warn({ err: { message: (err as Error).message } }, 'revocation cache write failed');
    }
    if (!facts || facts.userId !== userId) throw invalidToken();
    if (facts.ended) throw sessionEnded();
    return facts;
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

  /**
   * Call after a session's facts (its user's role, department or second factors, the session's
   * 2FA state) changed in MongoDB: its next check reads them again, in every process. Same
   * failure handling as a revocation (epoch dropped once Redis is back).
   */
  async changed(sids: string[]): Promise<void> {
    if (sids.length === 0) return;
    const mark = `${CHANGED}${randomBytes(9).toString('base64url')}`;
    try {
      await Promise.all(
        sids.map((sid) => this.deps.redis.eval(MARK_CHANGED, 1, stateKey(sid), mark, REVOKED, this.revokedTtlSeconds)),
      );
    } catch (err) {
      this.epochSuspect = true;
      this.deps.logger.error(
        { err: { message: (err as Error).message }, sessions: sids.length },
        'session change not cached in Redis; the cache will be re-checked',
      );
    }
  }
}

const sessionEnded = (): AppError => AppError.unauthorized('The session has ended.', 'session-revoked');
const invalidToken = (): AppError => AppError.unauthorized('The token is invalid or expired.', 'invalid-token');
