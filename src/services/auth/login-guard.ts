import { createHash } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { RedisClient } from '../../lib/redis';

export type Factor = 'password' | 'totp' | 'sms' | 'email' | 'backup';

export interface LoginGuardOptions {
  redis: RedisClient;
  now?: () => Date;
  /** Failures from one IP on one account before delays start. */
  freeFailures?: number;
  /** Longest delay between attempts for one (account, IP) pair. */
  maxDelaySeconds?: number;
  /** Failed passwords from one IP (any accounts) in the window before that IP is refused: password spraying. */
  ipFailureLimit?: number;
  windowSeconds?: number;
  /** Second-factor failures per login attempt before that factor locks. */
  factorFailureLimit?: number;
}

/**
 * Guessing defences, shared by every process through Redis.
 *
 * Passwords: a growing delay per (account, IP) pair and a cap per IP. Never a lock per
 * account alone, so an attacker cannot lock a real user out: the user's own IP has its
 * own, clean counter. Second factors: each factor locks after 5 failures within one login
 * (a fresh password login is needed), and the account-wide consecutive count is capped at
 * 100 by the caller (NIST SP 800-63B).
 */
export class LoginGuard {
  private readonly now: () => Date;
  readonly freeFailures: number;
  private readonly maxDelay: number;
  private readonly ipLimit: number;
  private readonly window: number;
  readonly factorLimit: number;

  constructor(private readonly opts: LoginGuardOptions) {
    this.now = opts.now ?? (() => new Date());
    this.freeFailures = opts.freeFailures ?? 3;
    this.maxDelay = opts.maxDelaySeconds ?? 900;
    this.ipLimit = opts.ipFailureLimit ?? 100;
    this.window = opts.windowSeconds ?? 900;
    this.factorLimit = opts.factorFailureLimit ?? 5;
  }

  private pairKey(account: string, ip: string): string {
    return `guard:pw:pair:${hashed(account)}:${ip}`;
  }

  /** Throws 429 when this IP must wait before trying this account again. */
  async checkPassword(account: string, ip: string): Promise<void> {
    const { redis } = this.opts;
    const [pair, ipCount] = await Promise.all([
      redis.hgetall(this.pairKey(account, ip)),
      redis.get(`guard:pw:ip:${ip}`),
    ]);
    if (Number(ipCount ?? 0) >= this.ipLimit) {
      throw AppError.tooManyRequests('Too many failed sign-ins from this address; try again later.', this.window);
    }
    const failures = Number(pair.count ?? 0);
    if (failures >= this.freeFailures) {
      const delay = Math.min(2 ** (failures - this.freeFailures), this.maxDelay);
      const waited = (this.now().getTime() - Number(pair.last ?? 0)) / 1000;
      if (waited < delay)
        throw AppError.tooManyRequests('Too many failed sign-ins; wait before trying again.', delay - waited);
    }
  }

  async passwordFailed(account: string, ip: string): Promise<{ pairFailures: number; accountFailures: number }> {
    const { redis } = this.opts;
    const key = this.pairKey(account, ip);
    const res = await redis
      .multi()
      .hincrby(key, 'count', 1)
      .hset(key, 'last', String(this.now().getTime()))
      .expire(key, this.maxDelay * 2)
      .incr(`guard:pw:ip:${ip}`)
      .expire(`guard:pw:ip:${ip}`, this.window)
      .incr(`guard:pw:acct:${hashed(account)}`)
      .expire(`guard:pw:acct:${hashed(account)}`, 86_400)
      .exec();
    return { pairFailures: Number(res?.[0]?.[1] ?? 0), accountFailures: Number(res?.[5]?.[1] ?? 0) };
  }

  async passwordSucceeded(account: string, ip: string): Promise<void> {
    await this.opts.redis.del(this.pairKey(account, ip), `guard:pw:acct:${hashed(account)}`);
  }

  private factorKey(userId: string, loginId: string, factor: Factor): string {
    return `guard:mfa:${userId}:${loginId}:${factor}`;
  }

  /** 429-free lock: a locked factor answers 403 until the user signs in with the password again. */
  async checkFactor(userId: string, loginId: string, factor: Factor): Promise<void> {
    const n = Number((await this.opts.redis.get(this.factorKey(userId, loginId, factor))) ?? 0);
    if (n >= this.factorLimit) throw factorLocked(factor);
  }

  /**
   * Takes one try at `factor` within this login and returns its number (1-based). The count
   * goes up before the code is checked: a burst of parallel guesses cannot all pass a
   * read-then-check. Beyond the limit the factor is locked for this login (403).
   */
  async takeFactorAttempt(userId: string, loginId: string, factor: Factor): Promise<number> {
    const key = this.factorKey(userId, loginId, factor);
    const res = await this.opts.redis.multi().incr(key).expire(key, 900).exec();
    const attempt = Number(res?.[0]?.[1] ?? Number.POSITIVE_INFINITY);
    if (attempt > this.factorLimit) throw factorLocked(factor);
    return attempt;
  }

  /**
   * Takes one second-factor try against the account-wide cap (NIST SP 800-63B: at most
   * `cap` consecutive failures) and returns the consecutive count including this try.
   * Counted atomically in Redis, seeded from the count persisted on the user (`persisted`)
   * so a Redis restart does not wipe it. Over the cap: 403 account-locked.
   */
  async takeAccountFactorAttempt(userId: string, persisted: number, cap: number): Promise<number> {
    const n = Number(
      await this.opts.redis.eval(
        ACCOUNT_ATTEMPT_SCRIPT,
        1,
        `guard:mfa:acct:${userId}`,
        String(persisted),
        String(ACCOUNT_COUNT_TTL_SECONDS),
      ),
    );
    if (n > cap) throw accountLocked();
    return n;
  }

  /** A factor succeeded (or an administrator reset them): the consecutive count starts again. */
  async resetAccountFactorAttempts(userId: string): Promise<void> {
    await this.opts.redis.del(`guard:mfa:acct:${userId}`);
  }
}

function factorLocked(factor: Factor): AppError {
  return new AppError({
    code: 'factor-locked',
    status: 403,
    title: 'Factor Locked',
    detail: `Too many wrong codes; sign in again with your password to retry ${factor}.`,
  });
}

export function accountLocked(): AppError {
  return new AppError({
    code: 'account-locked',
    status: 403,
    title: 'Account Locked',
    detail: 'Too many failed verification attempts; an administrator must reset your second factor.',
  });
}

/** Consecutive failures are "consecutive", not per window; the TTL only bounds idle keys. */
const ACCOUNT_COUNT_TTL_SECONDS = 90 * 86_400;
/** max(stored, persisted) + 1, in one step. */
const ACCOUNT_ATTEMPT_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local persisted = tonumber(ARGV[1])
if persisted > current then current = persisted end
current = current + 1
redis.call('SET', KEYS[1], current, 'EX', tonumber(ARGV[2]))
return current`;

/** Email addresses never appear in Redis keys: a short hash names the account. */
function hashed(account: string): string {
  return createHash('sha256').update(account).digest('base64url').slice(0, 22);
}
