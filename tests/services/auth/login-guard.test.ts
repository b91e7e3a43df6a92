import { createLogger } from '../../../src/lib/logger';
import { createRedis, waitForRedis, type RedisClient } from '../../../src/lib/redis';
import { LoginGuard } from '../../../src/services/auth/login-guard';
import { testNamespace, testRedisUrl } from '../../support/env';

describe('LoginGuard (Redis-backed guessing counters)', () => {
  let redis: RedisClient;
  const prefix = testNamespace(__filename).redisPrefix;
  let clock = 1_800_000_000_000;
  const now = (): Date => new Date(clock);

  beforeAll(async () => {
    redis = createRedis({ url: testRedisUrl(), logger: createLogger({ level: 'silent' }) }, { keyPrefix: prefix });
    expect(await waitForRedis(redis, 5_000)).toBe(true);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    redis.disconnect();
  });

  /** One password try (counted as a failure unless passwordSucceeded follows), or the refusal's status. */
  const status = async (guard: LoginGuard, account: string, ip: string): Promise<number | 'ok'> => {
    try {
      await guard.takePasswordAttempt(account, ip);
      return 'ok';
    } catch (err) {
      return (err as { status: number }).status;
    }
  };

  it('when one address fails repeatedly on an account, then its waits grow; another address and the account itself stay usable', async () => {
    const guard = new LoginGuard({ redis, now, freeFailures: 3 });
    for (let i = 0; i < 3; i++) expect(await status(guard, 'victim', '203.0.113.9')).toBe('ok');
    // 3 free failures, then 1 s, 2 s, 4 s ... between tries from that address.
    expect(await status(guard, 'victim', '203.0.113.9')).toBe(429);
    clock += 1_000;
    expect(await status(guard, 'victim', '203.0.113.9')).toBe('ok');
    clock += 1_000;
    expect(await status(guard, 'victim', '203.0.113.9')).toBe(429);
    clock += 1_000;
    expect(await status(guard, 'victim', '203.0.113.9')).toBe('ok');
    expect(await status(guard, 'victim', '198.51.100.4')).toBe('ok');
  });

  it('when an address sprays many accounts, then that address is refused, not the accounts', async () => {
    const guard = new LoginGuard({ redis, now, ipFailureLimit: 10 });
    for (let i = 0; i < 10; i++) expect(await status(guard, `user${i}`, '192.0.2.50')).toBe('ok');
    expect(await status(guard, 'user99', '192.0.2.50')).toBe(429);
    expect(await status(guard, 'user1', '192.0.2.51')).toBe('ok');
  });

  it('when the password is right, then that pair starts clean again', async () => {
    const guard = new LoginGuard({ redis, now, freeFailures: 1 });
    expect(await status(guard, 'alice', '192.0.2.7')).toBe('ok');
    expect(await status(guard, 'alice', '192.0.2.7')).toBe(429);
    await guard.passwordSucceeded('alice', '192.0.2.7');
    expect(await status(guard, 'alice', '192.0.2.7')).toBe('ok');
  });

  it('when second factors are tried 5 times in one login, then the 6th try is locked for that login only, at every factor', async () => {
    const guard = new LoginGuard({ redis, now });
    for (let i = 1; i <= 5; i++) await expect(guard.takeFactorAttempt('u1', 'login-a')).resolves.toBe(i);
    await expect(guard.takeFactorAttempt('u1', 'login-a')).rejects.toMatchObject({
      status: 403,
      code: 'factor-locked',
    });
    await expect(guard.checkFactor('u1', 'login-a')).rejects.toMatchObject({
      status: 403,
      code: 'factor-locked',
    });
    await expect(guard.takeFactorAttempt('u1', 'login-b')).resolves.toBe(1);
  });

  it('when 40 guesses at one factor arrive at once, then exactly 5 get a try', async () => {
    const guard = new LoginGuard({ redis, now });
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => guard.takeFactorAttempt('u2', 'burst')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
  });

  it('when the account-wide count is taken in parallel, then exactly the cap passes, seeded from the persisted count', async () => {
    const guard = new LoginGuard({ redis, now });
    // Redis knows nothing yet; the user document says 90 consecutive failures.
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () => guard.takeAccountFactorAttempt('u3', 90, 100)),
    );
    const passed = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(passed.sort((a, b) => a - b)).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
    expect(
      results
        .filter((r) => r.status === 'rejected')
        .every((r) => (r as PromiseRejectedResult).reason.code === 'account-locked'),
    ).toBe(true);
    await guard.resetAccountFactorAttempts('u3');
    await expect(guard.takeAccountFactorAttempt('u3', 0, 100)).resolves.toBe(1);
  });

  it('when counters are written, then no email address appears in a Redis key', async () => {
    const guard = new LoginGuard({ redis, now });
    await guard.takePasswordAttempt('someone@example.com', '192.0.2.8');
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.join('\n')).not.toContain('someone@example.com');
  });
});
