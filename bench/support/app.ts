/** The real app's container for a benchmark, on the local MongoDB-wire server and Redis (started if needed). */
import path from 'node:path';
import { ensureMongo, ensureRedis } from '../../scripts/local-services';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { createContainer, type Container } from '../../src/container';

export interface BenchContainer {
  container: Container;
  /** Drops the benchmark database and stops the container and any server it started. */
  close(): Promise<void>;
}

/** A started container on database `dbName`, configured by `env` over the benchmark defaults. */
export async function startBenchContainer(dbName: string, env: Record<string, string>): Promise<BenchContainer> {
  const root = path.resolve(__dirname, '../..');
  const mongo = await ensureMongo(process.env, { dataDir: path.join(root, '.data/bench') });
  const redis = await ensureRedis(process.env);
  const config = loadConfig({
    NODE_ENV: 'test',
    MONGODB_URI: mongo.url.replace(/\/$/, '') + '/' + dbName,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `bench:${process.pid}:`,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    ...env,
  });
  const container = createContainer(config, createLogger({ level: config.log.level }));
  await container.start();
  return {
    container,
    async close() {
      await container.database.connection.dropDatabase();
      await container.stop();
      await mongo.stop?.();
      await redis.stop?.();
    },
  };
}
