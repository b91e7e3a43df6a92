import { randomBytes } from 'node:crypto';
import type { Store, Options, ClientRateLimitInfo } from 'express-rate-limit';
import type { RedisClient } from './redis';

/**
 * Sliding log in one atomic Lua script: drop entries older than the window, count, admit
 * only while under the limit (a refused request is not logged, so hammering does not
 * extend a client's own wait), and report when the oldest counted entry leaves the window.
 * Time comes from the Redis server (TIME), so processes with skewed clocks agree.
 */
const SLIDING_WINDOW_LUA = `
local t = redis.call('TIME')
-- 1000.0 keeps the product a float, so no Lua build can overflow on seconds * 1000.
local now = tonumber(t[1]) * 1000.0 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  count = count + 1
  admitted = 1
end
redis.call('PEXPIRE', KEYS[1], window)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = now + window
if oldest[2] then reset = tonumber(oldest[2]) + window end
return {count, reset, admitted}
`;

type SlidingRedis = RedisClient & {
  slidingWindowHit(key: string, windowMs: number, limit: number, member: string): Promise<[number, number, number]>;
};

export interface SlidingWindowStoreOptions {
  redis: RedisClient;
  /** Key prefix of this tier (the client's own keyPrefix comes on top). */
  prefix: string;
  windowMs: number;
  limit: number;
}

/**
 * express-rate-limit Store over the Lua script above. A fixed window admits up to twice
 * the limit around a boundary; this admits at most `limit` in any window of `windowMs`.
 */
export class SlidingWindowStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  private readonly redis: SlidingRedis;

  constructor(private readonly opts: SlidingWindowStoreOptions) {
    this.prefix = opts.prefix;
    if (!('slidingWindowHit' in opts.redis)) {
      // defineCommand uses EVALSHA and falls back to EVAL on NOSCRIPT (after a Redis restart).
      opts.redis.defineCommand('slidingWindowHit', { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
    }
    this.redis = opts.redis as SlidingRedis;
  }

  init(_options: Options): void {
    // Window and limit come from our own options, fixed per tier.
  }

  private key(key: string): string {
    return this.prefix + key;
  }

  /** Unique per store instance, so members from other processes never collide. */
  private readonly nonce = randomBytes(6).toString('base64url');
  private seq = 0;

  async increment(key: string): Promise<ClientRateLimitInfo> {
    // Unique within the window: this store's nonce and a counter (a random draw per hit cost a syscall per request).
    const member = `${Date.now()}-${this.nonce}-${(this.seq++).toString(36)}`;
    const [count, reset, admitted] = await this.redis.slidingWindowHit(
      this.key(key),
      this.opts.windowMs,
      this.opts.limit,
      member,
    );
    // A refused hit reports limit + 1 so express-rate-limit answers 429.
    return { totalHits: admitted === 1 ? Number(count) : this.opts.limit + 1, resetTime: new Date(Number(reset)) };
  }

  async decrement(key: string): Promise<void> {
    // Remove the newest entry: the request it stood for should not count (e.g. skipped on success).
    await this.redis.zpopmax(this.key(key));
  }

  async resetKey(key: string): Promise<void> {
    await this.redis.del(this.key(key));
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const n = await this.redis.zcard(this.key(key));
    return n ? { totalHits: n, resetTime: undefined } : undefined;
  }
}
