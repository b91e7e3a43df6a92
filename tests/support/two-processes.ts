import type { Express } from 'express';
import { buildTestApp, type TestApp } from './app';
import { login } from './users';
import { startRedis, freePort, type LocalService } from '../../scripts/local-services';
import { createContainer, type Container } from '../../src/container';
import { createApp } from '../../src/app';

/**
 * Two app "processes" (the test app and a second container with its own Express app) on one
 * database and one redis-server of the test file's own, so the file may stop, restart or
 * flush Redis, and its command counters are its alone.
 */
export interface TwoProcesses {
  t: TestApp;
  other: Container;
  appB: Express;
  stopRedis(): Promise<void>;
  /** Starts a fresh (empty, no persistence) redis-server on the same port, after stopRedis. */
  startRedis(): Promise<void>;
  close(): Promise<void>;
}

export async function twoProcessesWithOwnRedis(file: string): Promise<TwoProcesses> {
  const port = await freePort();
  let redis: LocalService = await startRedis({ port });
  const t = await buildTestApp(file, {
    REDIS_URL: `redis://127.0.0.1:${port}`,
    BCRYPT_COST: '10',
    RATE_LIMIT_AUTH: '1000/900',
    RATE_LIMIT_GENERAL: '10000/60',
  });
  const other = createContainer(t.config, t.logger);
  await other.start();
  const stopRedis = async (): Promise<void> => {
    await redis.stop?.();
  };
  return {
    t,
    other,
    appB: createApp(other.deps),
    stopRedis,
    startRedis: async () => {
      redis = await startRedis({ port });
    },
    close: async () => {
      await other.stop();
      await t.close();
      await stopRedis();
    },
  };
}

/** Password login that must succeed; returns its access token. */
export async function accessTokenOf(t: TestApp, email: string): Promise<string> {
  const res = await login(t, email);
  expect(res.status).toBe(200);
  return res.body.accessToken as string;
}
