import { Writable } from 'node:stream';
import type { Express } from 'express';
import { loadConfig, type Config } from '../../src/config';
import { createLogger, type Logger } from '../../src/lib/logger';
import { createContainer, type Container, type ContainerOptions } from '../../src/container';
import { createApp } from '../../src/app';
import { testMongoUri, testNamespace, testRedisUrl } from './env';

/** Collects the JSON log lines a logger writes, so tests can assert on them. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export interface TestApp {
  app: Express;
  config: Config;
  container: Container;
  logger: Logger;
  logs: LogCapture;
  dbName: string;
  redisPrefix: string;
  /** Drops the test database, deletes the test's Redis keys, closes the clients. */
  close(): Promise<void>;
}

/**
 * Builds the real app through the real composition root, on the test servers, with this
 * file's own database name and Redis key prefix. `env` overrides configuration.
 */
export async function buildTestApp(file: string, env: Record<string, string> = {}, opts: ContainerOptions = {}): Promise<TestApp> {
  const ns = testNamespace(file);
  const config = loadConfig({
    NODE_ENV: 'test',
    MONGODB_URI: testMongoUri(ns.dbName),
    REDIS_URL: testRedisUrl(),
    REDIS_KEY_PREFIX: ns.redisPrefix,
    LOG_LEVEL: 'debug',
    MONGODB_MIN_POOL_SIZE: '1',
    ...env,
  });
  const logs = new LogCapture();
  const logger = createLogger({ level: config.log.level, destination: logs });
  const container = createContainer(config, logger, opts);
  await container.start();
  const app = createApp(container.deps);
  return {
    app,
    config,
    container,
    logger,
    logs,
    dbName: ns.dbName,
    redisPrefix: ns.redisPrefix,
    async close() {
      await container.database.connection.dropDatabase().catch(() => undefined);
      await deleteKeys(container, config.redis.keyPrefix).catch(() => undefined);
      await container.stop();
    },
  };
}

async function deleteKeys(container: Container, prefix: string): Promise<void> {
  const redis = container.redis;
  if (redis.status !== 'ready') return;
  let cursor = '0';
  do {
    // SCAN patterns are not prefixed by ioredis; strip the prefix before DEL, which is.
    const [next, keys] = await redis.scan(cursor, 'MATCH', prefix + '*', 'COUNT', 500);
    cursor = next;
    if (keys.length) await redis.del(...keys.map((k) => k.slice(prefix.length)));
  } while (cursor !== '0');
}
