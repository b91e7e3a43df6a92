import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * Per-test-file isolation: a database name and a Redis key prefix nobody else uses,
 * so files can run in parallel against the shared servers.
 */
export function testNamespace(file: string): { dbName: string; redisPrefix: string } {
  const base = path
    .basename(file)
    .replace(/\.test\.ts$/, '')
    .replace(/[^a-zA-Z0-9]/g, '_')
    .slice(0, 30);
  const rand = randomBytes(4).toString('hex');
  return { dbName: `t_${base}_${rand}`, redisPrefix: `test:${base}:${rand}:` };
}

/** MongoDB URL of the server the global setup started, pointed at `dbName`. */
export function testMongoUri(dbName: string): string {
  const base = process.env.TEST_MONGODB_URL;
  if (!base) throw new Error('TEST_MONGODB_URL is not set: run tests through jest (global setup starts the servers)');
  const u = new URL(base);
  u.pathname = '/' + dbName;
  return u.toString();
}

export function testRedisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error('TEST_REDIS_URL is not set: run tests through jest (global setup starts the servers)');
  return url;
}

/**
 * The environment of a second process (the server or the CLI, see process.ts runTs) on the
 * servers the global setup started, in the namespace `ns` (a testNamespace or a TestApp).
 */
export function childEnv(
  ns: { dbName: string; redisPrefix: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'test',
    MONGODB_URI: testMongoUri(ns.dbName),
    REDIS_URL: testRedisUrl(),
    REDIS_KEY_PREFIX: ns.redisPrefix,
    MONGODB_MIN_POOL_SIZE: '1',
    // No wait-queue bound on a loaded shared test machine (tests/lib/database.wait-queue.test.ts tests the bound).
    MONGODB_WAIT_QUEUE_TIMEOUT_MS: '0',
    ...extra,
  };
}
