/**
 * Rate-limiter baseline pair, in one process: the same bare Express route twice, once behind
 * the app's general tier (express-rate-limit over the Redis sliding-window store, exactly as
 * createRateLimiters builds it) and once without. Input: REDIS_URL and BENCH_REDIS_PREFIX in
 * the environment. Prints `listening <bare port> <limited port>`.
 */
import express from 'express';
import type { AddressInfo } from 'node:net';
import { createRateLimiters, type TierConfig } from '../../src/middleware/rate-limit';
import { createRedis } from '../../src/lib/redis';
import { createLogger } from '../../src/lib/logger';

const logger = createLogger({ level: 'warn' });
const redis = createRedis(
  { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', logger },
  { keyPrefix: process.env.BENCH_REDIS_PREFIX ?? `bench:limiter:${process.pid}:` },
);
// The highest limit config allows: every request is counted, none is refused.
const tier: TierConfig = { limit: 1_000_000, windowMs: 60_000, failOpen: true };
const limiters = createRateLimiters({
  redis,
  logger,
  tiers: { general: tier, auth: tier, payment: tier, apiKey: tier },
  ipv6Subnet: 56,
  bearerSubject: async () => undefined,
});

function build(withLimiter: boolean): express.Express {
  const app = express();
  app.set('etag', false);
  if (withLimiter) app.use(limiters.general);
  app.get('/r', (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}

const listen = (app: express.Express): Promise<number> =>
  new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
    s.keepAliveTimeout = 65_000;
  });

async function main(): Promise<void> {
  await new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));
  const bare = await listen(build(false));
  const limited = await listen(build(true));
  process.stdout.write(`listening ${bare} ${limited}\n`);
}

process.on('SIGTERM', () => {
  void redis.quit().finally(() => process.exit(0));
});
void main();
