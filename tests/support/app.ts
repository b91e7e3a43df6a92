import { Writable } from 'node:stream';
import type { Express } from 'express';
import { loadConfig, type Config } from '../../src/config';
import { createLogger, type Logger } from '../../src/lib/logger';
import { createContainer, type Container, type ContainerOptions } from '../../src/container';
import { createApp } from '../../src/app';
import { testMongoUri, testNamespace, testRedisUrl } from './env';
import { startSmtpPeer, startTwilioPeer } from './peers';

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
 * Settings for tests that are about neither password hashing nor rate limits: the cheapest
 * bcrypt cost config allows, and limits no test run comes near.
 */
export const ROUTE_TEST_ENV: Readonly<Record<string, string>> = {
  BCRYPT_COST: '10',
  RATE_LIMIT_AUTH: '1000/900',
  RATE_LIMIT_GENERAL: '10000/60',
};

/**
 * Builds the real app through the real composition root, on the test servers, with this
 * file's own database name and Redis key prefix. `env` overrides configuration.
 */
export async function buildTestApp(
  file: string,
  env: Record<string, string> = {},
  opts: ContainerOptions = {},
): Promise<TestApp> {
  const ns = testNamespace(file);
  const config = loadConfig({
    NODE_ENV: 'test',
    MONGODB_URI: testMongoUri(ns.dbName),
    REDIS_URL: testRedisUrl(),
    REDIS_KEY_PREFIX: ns.redisPrefix,
    LOG_LEVEL: 'debug',
    MONGODB_MIN_POOL_SIZE: '1',
    // No wait-queue bound on a loaded shared test machine (tests/lib/database.wait-queue.test.ts tests the bound).
    MONGODB_WAIT_QUEUE_TIMEOUT_MS: '0',
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

/** The app's clock in tests: real time plus an offset the tests move forward instead of sleeping. */
export class TestClock {
  private offsetMs = 0;
  private frozenAt: number | null = null;
  readonly now = (): Date => new Date(this.frozenAt ?? Date.now() + this.offsetMs);
  advance(ms: number): void {
    if (this.frozenAt !== null) this.frozenAt += ms;
    else this.offsetMs += ms;
  }
  /**
   * Stops the clock where it is until thaw(): for checks that count exact 30 s TOTP steps,
   * which real time passing between computing a code and verifying it would shift.
   */
  freeze(): void {
    this.frozenAt ??= Date.now() + this.offsetMs;
  }
  /** Lets the clock run again from where it stood (never backwards). */
  thaw(): void {
    if (this.frozenAt === null) return;
    this.offsetMs = this.frozenAt - Date.now();
    this.frozenAt = null;
  }
}

export const TWILIO_TEST_AUTH_TOKEN = 'twilio-auth-token-value';

export interface SenderTestApp {
  t: TestApp;
  smtp: Awaited<ReturnType<typeof startSmtpPeer>>;
  twilioPeer: Awaited<ReturnType<typeof startTwilioPeer>>;
  clock: TestClock;
  /** Closes the app, then both peers. */
  close(): Promise<void>;
}

/**
 * The real app wired to real SMTP and Twilio peers on 127.0.0.1 and a movable clock: what
 * every test of one-time codes needs. `env` adds to (or overrides) the sender settings.
 */
export async function buildAppWithSenders(
  file: string,
  twilioSid: string,
  env: Record<string, string> = {},
): Promise<SenderTestApp> {
  const smtp = await startSmtpPeer();
  const twilioPeer = await startTwilioPeer(twilioSid);
  const clock = new TestClock();
  const t = await buildTestApp(
    file,
    {
      SMTP_URL: smtp.url,
      TWILIO_ACCOUNT_SID: twilioSid,
      TWILIO_AUTH_TOKEN: TWILIO_TEST_AUTH_TOKEN,
      TWILIO_FROM_NUMBER: '+15005550006',
      ...ROUTE_TEST_ENV,
      ...env,
    },
    { twilioHttpClient: twilioPeer.httpClient, now: clock.now },
  );
  return {
    t,
    smtp,
    twilioPeer,
    clock,
    async close() {
      await t.close();
      await smtp.stop();
      await twilioPeer.stop();
    },
  };
}
