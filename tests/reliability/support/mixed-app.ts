import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { productionEnv, startApp, type AppProcess } from '../../../bench/support/app-process';
import { deleteKeys } from '../../../bench/support/redis-keys';
import { dropDatabase, seed } from '../../../bench/support/seed';
import type { Fixture } from '../../../bench/support/workload';
import { testNamespace, testRedisUrl } from '../../support/env';

export interface MixedApp {
  /** The app process (production mode), started in beforeAll. */
  readonly app: AppProcess;
  /** Tokens and ids the mixed workload draws from. */
  readonly fixture: Fixture;
  /** The app's Redis key prefix (everything under it is deleted afterwards). */
  readonly redisPrefix: string;
}

/**
 * The load and soak tests' subject: the mixed workload's users, sessions and `invoices` seeded
 * into the test file's own database, and the real app started on it as a child process. Hooks
 * registered here drop the database and the Redis keys afterwards.
 */
export function useSeededMixedApp(file: string, invoices: number): MixedApp {
  const ns = testNamespace(file);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mixed-app-'));
  const env = productionEnv({
    mongoUrl: process.env.TEST_MONGODB_URL!,
    dbName: ns.dbName,
    redisUrl: testRedisUrl(),
    redisPrefix: ns.redisPrefix,
  });
  let app: AppProcess | undefined;
  let fixture: Fixture | undefined;

  beforeAll(async () => {
    fixture = await seed(env, { staff: 20, invoices, logins: 20 });
    app = await startApp(env, path.join(tmp, 'app.log'));
  }, 600_000);

  afterAll(async () => {
    await app?.stop();
    await dropDatabase(env);
    await deleteKeys(testRedisUrl(), ns.redisPrefix);
    rmSync(tmp, { recursive: true, force: true });
  }, 120_000);

  return {
    get app() {
      if (!app) throw new Error('the app starts in beforeAll');
      return app;
    },
    get fixture() {
      if (!fixture) throw new Error('the fixture is seeded in beforeAll');
      return fixture;
    },
    redisPrefix: ns.redisPrefix,
  };
}
