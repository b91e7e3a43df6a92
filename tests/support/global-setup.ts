import path from 'node:path';
import { ensureMongo, ensureRedis } from '../../scripts/local-services';

/**
 * Starts (or finds) the MongoDB-wire server and Redis once for the whole run and hands
 * their URLs to the test workers through the environment. Each test file then uses its
 * own database name and Redis key prefix (tests/support/env.ts).
 */
export default async function globalSetup(): Promise<void> {
  const dataDir = path.resolve(__dirname, '../../.data/test-' + process.pid);
  const mongo = await ensureMongo(process.env, { dataDir });
  const redis = await ensureRedis(process.env);
  process.env.TEST_MONGODB_URL = mongo.url;
  process.env.TEST_REDIS_URL = redis.url;
  const g = globalThis as { __erpTestServices?: Array<() => Promise<void>> };
  g.__erpTestServices = [mongo.stop, redis.stop].filter((s): s is () => Promise<void> => s !== undefined);
}
