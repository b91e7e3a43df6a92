import type { Request, RequestHandler, Response } from 'express';
import { rateLimit, ipKeyGenerator, type Store, type ClientRateLimitInfo, type Options } from 'express-rate-limit';
import { createHash } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';
import { getAuth } from '../lib/auth-context';
import { SlidingWindowStore } from '../lib/sliding-window-store';

export type TierName = 'general' | 'auth' | 'payment' | 'apiKey';

export interface TierConfig {
  limit: number;
  windowMs: number;
  /** When Redis is down: let requests through (true) or refuse them with 503 (false). */
  failOpen: boolean;
}

export interface RateLimitOptions {
  redis: RedisClient;
  logger: Logger;
  tiers: Record<TierName, TierConfig>;
  /** IPv6 clients are grouped by this prefix length (one customer usually owns a /56 or /64). */
  ipv6Subnet: number;
  /**
   * The user of a fully verified bearer token (signature, lifetime, live session), or
   * undefined: lets the general tier key by user before routers run. A revoked, forged or
   * expired token is counted by client address, so nobody can spend another user's budget.
   */
  bearerSubject: (authorizationHeader: string, req: Request) => Promise<string | undefined>;
  /** Told once per outage and tier (the AlertService hooks in here). */
  onRedisDown?: (tier: TierName, err: Error) => void;
  /** Told of every request refused with 429 (the rate-limit rejection metric). */
  onRejected?: (tier: TierName) => void;
}

export interface RateLimiters {
  general: RequestHandler;
  auth: RequestHandler;
  payment: RequestHandler;
  apiKey: RequestHandler;
  /** Clears the auth-tier counter of one client and account (after a successful login). */
  resetAuth: (ip: string, email: string) => Promise<void>;
}

/** Wraps a store so an unreachable Redis fails open or closed per tier, logged once per outage. */
class GuardedStore implements Store {
  readonly localKeys = false;
  private down = false;

  constructor(
    private readonly inner: SlidingWindowStore,
    private readonly tier: TierName,
    private readonly cfg: TierConfig,
    private readonly opts: RateLimitOptions,
  ) {}

  get prefix(): string {
    return this.inner.prefix;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    try {
      const info = await this.inner.increment(key);
      if (this.down) this.opts.logger.info({ tier: this.tier }, 'rate limiting has Redis again');
      this.down = false;
      return info;
    } catch (err) {
      if (!this.down) {
        this.down = true;
        this.opts.logger.error(
          { tier: this.tier, failOpen: this.cfg.failOpen, err: { message: (err as Error).message } },
          'rate-limit store unreachable',
        );
        this.opts.onRedisDown?.(this.tier, err as Error);
      }
      // Open: count this as the first hit of a fresh window (the library rejects 0 hits and a missing reset).
      if (this.cfg.failOpen) return { totalHits: 1, resetTime: new Date(Date.now() + this.cfg.windowMs) };
      throw AppError.serviceUnavailable('This action is temporarily unavailable; try again shortly.', err, 30);
    }
  }

  async decrement(key: string): Promise<void> {
    await this.inner.decrement(key).catch(() => undefined);
  }

  async resetKey(key: string): Promise<void> {
    await this.inner.resetKey(key);
  }
}

/** Email addresses never appear in Redis keys. */
const hashAccount = (account: string): string =>
  account ? createHash('sha256').update(account).digest('base64url').slice(0, 22) : '';

export function clientIp(req: Request, ipv6Subnet: number): string {
  return ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown', ipv6Subnet);
}

/**
 * The account an auth request is about: the email of a login, the subject of the mfaToken
 * of a 2FA step (read unverified: it only picks a bucket that also contains the client IP,
 * so a forged subject cannot touch anyone else's counter), the signed-in user of a
 * re-authentication (password change, factor setup), or the passkey of a passwordless
 * sign-in (its credential id, read the same way), so colleagues behind one office NAT do
 * not share one bucket.
 */
async function accountOf(
  req: Request,
  bearerSubject: (header: string, req: Request) => Promise<string | undefined>,
): Promise<string> {
  const body = req.body as { email?: unknown; mfaToken?: unknown; credential?: { id?: unknown } } | undefined;
  if (typeof body?.email === 'string') return body.email.trim().toLowerCase();
  if (typeof body?.mfaToken === 'string') {
    const sub = (jwt.decode(body.mfaToken, { json: true }) as { sub?: unknown } | null)?.sub;
    if (typeof sub === 'string') return `mfa:${sub}`;
  }
  const header = req.get('authorization');
  const sub = header ? await bearerSubject(header, req) : undefined;
  if (sub) return `user:${sub}`;
  const credentialId = body?.credential?.id;
  return typeof credentialId === 'string' ? `passkey:${credentialId}` : '';
}

/**
 * The named rate-limit tiers, built by one factory from config. Each is express-rate-limit
 * over a Redis sliding-window store shared by every process; answers carry draft-8
 * `RateLimit`/`RateLimit-Policy` headers, and refusals are 429 problem+json with Retry-After.
 */
export function createRateLimiters(opts: RateLimitOptions): RateLimiters {
  const stores = {} as Record<TierName, SlidingWindowStore>;
  const build = (
    tier: TierName,
    keyGenerator: (req: Request, res: Response) => string | Promise<string>,
  ): RequestHandler => {
    const cfg = opts.tiers[tier];
    stores[tier] = new SlidingWindowStore({
      redis: opts.redis,
      prefix: `rl:${tier}:`,
      windowMs: cfg.windowMs,
      limit: cfg.limit,
    });
    const options: Partial<Options> = {
      windowMs: cfg.windowMs,
      limit: cfg.limit,
      identifier: tier,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      store: new GuardedStore(stores[tier], tier, cfg, opts),
      keyGenerator,
      passOnStoreError: false,
      // Our key generators already group IPv6 addresses; the library's check would misfire on composite keys.
      validate: { keyGeneratorIpFallback: false, trustProxy: false, xForwardedForHeader: false },
      handler: (req, _res, next) => {
        opts.onRejected?.(tier);
        const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
        const retryAfter = reset
          ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000))
          : Math.ceil(cfg.windowMs / 1000);
        next(
          AppError.tooManyRequests(
            `Rate limit of ${cfg.limit} requests per ${Math.round(cfg.windowMs / 1000)} s exceeded (${tier}).`,
            retryAfter,
          ),
        );
      },
    };
    return rateLimit(options);
  };

  const authKey = async (req: Request): Promise<string> =>
    `${clientIp(req, opts.ipv6Subnet)}|${hashAccount(await accountOf(req, opts.bearerSubject))}`;
  return {
    general: build('general', async (req) => {
      const header = req.get('authorization');
      const sub = header ? await opts.bearerSubject(header, req) : undefined;
      return sub ? `u:${sub}` : `ip:${clientIp(req, opts.ipv6Subnet)}`;
    }),
    auth: build('auth', authKey),
    payment: build('payment', (req, res) => {
      const auth = getAuth(res);
      return auth ? `u:${auth.userId}` : `ip:${clientIp(req, opts.ipv6Subnet)}`;
    }),
    apiKey: build('apiKey', (req, res) => {
      const id = (res.locals.apiKey as { id?: string } | undefined)?.id;
      return id ? `k:${id}` : `ip:${clientIp(req, opts.ipv6Subnet)}`;
    }),
    resetAuth: (ip, email) => stores.auth.resetKey(`${ipKeyGenerator(ip, opts.ipv6Subnet)}|${hashAccount(email)}`),
  };
}
