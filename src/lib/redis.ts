import Redis, { type RedisOptions } from 'ioredis';
import type { Logger } from './logger';

export type RedisClient = Redis;

export interface RedisFactoryOptions {
  url: string;
  logger: Logger;
}

/** Reconnect with capped exponential backoff plus jitter, so a Redis restart is not met by a thundering herd. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt, 10), 5_000);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/**
 * The one Redis client of the process, always a real server: local runs and tests get a
 * redis-server from scripts/local-services.ts, so they exercise the same Lua and
 * expiry semantics as production.
 */
export function createRedis(opts: RedisFactoryOptions, extra: RedisOptions = {}): RedisClient {
  const log = opts.logger.child({ component: 'redis' });
  const client = new Redis(opts.url, {
    retryStrategy: reconnectDelay,
    // Fail fast while disconnected: a rate limiter or revocation check must answer now
    // (fail open or closed), not queue behind reconnect backoff.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    enableAutoPipelining: true,
    ...extra,
  });
  let down = false;
  client.on('ready', () => {
    log.info(down ? 'redis reconnected' : 'redis ready');
    down = false;
  });
  client.on('error', (err: Error) => {
    // ioredis emits an error per failed reconnect attempt; log the first of an outage only.
    if (!down) log.error({ err: { message: err.message } }, 'redis error');
    down = true;
  });
  client.on('end', () => log.info('redis connection closed'));
  return client;
}

/** Resolves when the client is ready, or after timeoutMs (false): boot goes on and readiness reports the outage. */
export function waitForRedis(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}
