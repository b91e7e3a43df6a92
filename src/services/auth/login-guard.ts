import { createHash } from 'node:crypto';
import { ipKeyGenerator } from 'express-rate-limit';
import { AppError } from '../../lib/errors';
import type { RedisClient } from '../../lib/redis';

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
  /** Second-factor failures per sign-in (all factors together) before it locks. */
  factorFailureLimit?: number;
  /** IPv6 addresses count per this prefix length, as in the rate limiter (config rateLimits.ipv6Subnet). */
  ipv6Subnet?: number;
  /** Told when an address is refused for too many failed passwords (password spraying). Must not throw. */
  onAddressRefused?: (address: string) => void;
}

/**
 * Guessing defences, shared by every process through Redis.
 *
 * Passwords: a growing delay per (account, address) pair and a cap per address, where an
 * IPv6 address means its /56 (or the configured prefix). Never a lock per account alone,
 * so an attacker cannot lock a real user out: the user's own address has its own, clean
 * counter. Second factors: a sign-in (one mfaToken) locks after 5 failures at any of its
 * factors together (a fresh password login is needed), and the account-wide consecutive
 * count is capped at 100 by the caller (NIST SP 800-63B).
 */
export class LoginGuard {
  private readonly now: () => Date;
  readonly freeFailures: number;
  private readonly maxDelay: number;
  private readonly ipLimit: number;
  private readonly window: number;
  readonly factorLimit: number;
  private readonly ipv6Subnet: number;

  constructor(private readonly opts: LoginGuardOptions) {
    this.now = opts.now ?? (() => new Date());
    this.freeFailures = opts.freeFailures ?? 3;
    this.maxDelay = opts.maxDelaySeconds ?? 900;
    this.ipLimit = opts.ipFailureLimit ?? 100;
    this.window = opts.windowSeconds ?? 900;
    this.factorLimit = opts.factorFailureLimit ?? 5;
    this.ipv6Subnet = opts.ipv6Subnet ?? 56;
  }

  /**
   * The address a count belongs to, grouped exactly as the rate limiter groups it: an IPv6
   * client usually owns a whole /56 or /64, so one address per guess must not mean a fresh
   * counter per guess.
   */
  private addressOf(ip: string): string {
    return ipKeyGenerator(ip, this.ipv6Subnet);
  }

  /**
   * The pair and the address counts are decided on together, so they share a hash slot (the
   * address in braces) and one script can take both on a Redis Cluster. The account count
   * spans addresses, so it lives on its own and is counted in a step of its own.
   */
  private passwordKeys(account: string, ip: string): { pair: string; address: string; account: string } {
    const address = this.addressOf(ip);
    return {
      pair: `guard:pw:pair:${hashed(account)}:{${address}}`,
      address: `guard:pw:ip:{${address}}`,
      account: `guard:pw:acct:${hashed(account)}`,
    };
  }

  /** One more failed password on the account (all addresses); INCR and its expiry in one transaction. */
  private async countAccountFailure(key: string): Promise<number> {
    const res = await this.opts.redis.multi().incr(key).expire(key, ACCOUNT_FAILURES_TTL_SECONDS).exec();
    return Number(res?.[0]?.[1] ?? 0);
  }

  /**
   * Takes one password try for (account, address) before the password is checked, or throws
   * 429 when this address must wait (growing delay per pair) or is refused (too many failures
   * from it on any accounts). Decision and count are one Redis script: 20 parallel guesses
   * get exactly `freeFailures` tries, not 20 reads of the same count. A refused request is
   * not counted (hammering does not extend the wait). The try counts as a failure until
   * passwordSucceeded() says otherwise; returns the counts including it.
   */
  async takePasswordAttempt(account: string, ip: string): Promise<{ pairFailures: number; accountFailures: number }> {
    const keys = this.passwordKeys(account, ip);
    const res = (await this.opts.redis.eval(
      PASSWORD_ATTEMPT_SCRIPT,
      2,
      keys.pair,
      keys.address,
      String(this.now().getTime()),
      String(this.freeFailures),
      String(this.maxDelay),
      String(this.ipLimit),
      String(this.window),
      String(this.maxDelay * 2),
    )) as [number | string, number | string, number | string];
    const [admitted, a, b] = res.map(Number);
    if (admitted === 1) return { pairFailures: a, accountFailures: await this.countAccountFailure(keys.account) };
    if (a === 0) {
      this.opts.onAddressRefused?.(this.addressOf(ip));
      throw AppError.tooManyRequests(
        'Too many failed sign-ins from this address; try again later.',
        b > 0 ? b : this.window,
      );
    }
    throw AppError.tooManyRequests('Too many failed sign-ins; wait before trying again.', b / 1000);
  }

  /** The password was right: that pair and the account's failure count start clean, and this try is given back. */
  async passwordSucceeded(account: string, ip: string): Promise<void> {
    const keys = this.passwordKeys(account, ip);
    await Promise.all([
      this.opts.redis.eval(PASSWORD_SUCCEEDED_SCRIPT, 2, keys.pair, keys.address),
      this.opts.redis.del(keys.account),
    ]);
  }

  /** One budget per sign-in (one mfaToken), whichever factors its guesses go to. */
  private signInKey(userId: string, loginId: string): string {
    return `guard:mfa:${userId}:${loginId}`;
  }

  /** 429-free lock: a locked sign-in answers 403 until the user signs in with the password again. */
  async checkFactor(userId: string, loginId: string): Promise<void> {
    const n = Number((await this.opts.redis.get(this.signInKey(userId, loginId))) ?? 0);
    if (n >= this.factorLimit) throw factorLocked();
  }

  /**
   * Takes one second-factor try within this sign-in, at any factor, and returns its number
   * (1-based). The count goes up before the code is checked: a burst of parallel guesses
   * cannot all pass a read-then-check. Beyond the limit every factor is locked for this
   * sign-in (403): a lock on one factor must not leave five fresh guesses at the next.
   */
  async takeFactorAttempt(userId: string, loginId: string): Promise<number> {
    const key = this.signInKey(userId, loginId);
    const res = await this.opts.redis.multi().incr(key).expire(key, 900).exec();
    const attempt = Number(res?.[0]?.[1] ?? Number.POSITIVE_INFINITY);
    if (attempt > this.factorLimit) throw factorLocked();
    return attempt;
  }

  /**
   * Gives back a try taken by takeFactorAttempt (and, with `account`, by
   * takeAccountFactorAttempt) that turned out to be no guess: a right TOTP code whose step
   * this user already spent. Counts are taken before the check so parallel guesses stay
   * exact; this undoes only this request's.
   */
  async giveBackFactorAttempt(userId: string, loginId: string, opts: { account: boolean }): Promise<void> {
    const keys = [this.signInKey(userId, loginId), ...(opts.account ? [`guard:mfa:acct:${userId}`] : [])];
    // One script per key: each give-back stands alone, and the keys may sit on different cluster nodes.
    await Promise.all(keys.map((key) => this.opts.redis.eval(GIVE_BACK_SCRIPT, 1, key)));
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

function factorLocked(): AppError {
  return new AppError({
    code: 'factor-locked',
    status: 403,
    title: 'Factor Locked',
    detail: 'Too many wrong codes in this sign-in; sign in again with your password to get new tries.',
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

/** How long an account's failed-password count (all addresses) is kept after its last failure. */
const ACCOUNT_FAILURES_TTL_SECONDS = 86_400;

/**
 * KEYS: pair hash, address count (one hash slot). ARGV: now (ms), free failures, max delay (s),
 * address limit, address window (s), pair TTL (s).
 * Returns {1, pair count, 0} when admitted and counted; {0, 0, seconds} when the
 * address is refused; {0, 1, milliseconds} when the pair must wait. Times stay strings or
 * floats: the in-process fallback's Lua has 32-bit integers.
 */
const PASSWORD_ATTEMPT_SCRIPT = `
local now = tonumber(ARGV[1])
local addressCount = tonumber(redis.call('GET', KEYS[2]) or '0')
if addressCount >= tonumber(ARGV[4]) then
  return {0, 0, redis.call('TTL', KEYS[2])}
end
local free = tonumber(ARGV[2])
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if count >= free then
  local delay = math.min(2 ^ (count - free), tonumber(ARGV[3])) * 1000.0
  local waited = now - tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
  if waited < delay then
    return {0, 1, tostring(math.ceil(delay - waited))}
  end
end
count = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
return {1, count, 0}`;

/** KEYS as above: clears the pair, gives the address its try back. */
const PASSWORD_SUCCEEDED_SCRIPT = `
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1`;

/** Decrements the key if it holds a positive count (a reset in between must not go negative). */
const GIVE_BACK_SCRIPT = `
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 1`;

/** Email addresses never appear in Redis keys: a short hash names the account. */
function hashed(account: string): string {
  return createHash('sha256').update(account).digest('base64url').slice(0, 22);
}
