import { createLogger } from '../../../src/lib/logger';
import { createRedis, waitForRedis, type RedisClient } from '../../../src/lib/redis';
import { LoginGuard } from '../../../src/services/auth/login-guard';
import type { AppError } from '../../../src/lib/errors';
import { testNamespace, testRedisUrl } from '../../support/env';

describe('LoginGuard password tries: counted with the decision, grouped like the rate limiter', () => {
  let redis: RedisClient;
  const prefix = testNamespace(__filename).redisPrefix;
  const clock = 1_800_000_000_000;
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

  it('when 20 tries for one account arrive at once from one address, then exactly the free ones are admitted and the rest are told to wait', async () => {
    const guard = new LoginGuard({ redis, now, freeFailures: 3 });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => guard.takePasswordAttempt('burst@example.com', '203.0.113.60')),
    );
    const admitted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.pairFailures] : []));
    expect(admitted.sort()).toEqual([1, 2, 3]);
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as AppError] : []));
    expect(refused).toHaveLength(17);
    for (const e of refused) {
      expect(e).toMatchObject({ status: 429, code: 'rate-limited' });
      expect(e.headers).toEqual({ 'Retry-After': '1' });
    }
  });

  it('when failures come from rotating IPv6 addresses within one /56, then they hit the per-address cap together; another /56 is untouched', async () => {
    const guard = new LoginGuard({ redis, now, ipFailureLimit: 10, ipv6Subnet: 56 });
    for (let i = 0; i < 10; i++)
      await guard.takePasswordAttempt(`sprayed${i}@example.com`, `2001:db8:9:1${i.toString(16)}${i}::${i + 1}`);
    await expect(guard.takePasswordAttempt('next@example.com', '2001:db8:9:1ff:abcd::1')).rejects.toMatchObject({
      status: 429,
      detail: expect.stringMatching(/from this address/),
    });
    await expect(guard.takePasswordAttempt('next@example.com', '2001:db8:9:200::1')).resolves.toMatchObject({
      pairFailures: 1,
    });
  });

  it('when failures on one account rotate IPv6 addresses within one /56, then they share one pair delay', async () => {
    const guard = new LoginGuard({ redis, now, freeFailures: 3, ipv6Subnet: 56 });
    for (const ip of ['2001:db8:a:100::1', '2001:db8:a:1a2::9', '2001:db8:a:1ff:1234::2'])
      await guard.takePasswordAttempt('pair@example.com', ip);
    await expect(guard.takePasswordAttempt('pair@example.com', '2001:db8:a:13c::77')).rejects.toMatchObject({
      status: 429,
    });
  });

  it('when many users of one address sign in correctly, then their tries are given back and the address is not capped', async () => {
    const guard = new LoginGuard({ redis, now, ipFailureLimit: 3 });
    for (let i = 0; i < 10; i++) {
      await guard.takePasswordAttempt(`colleague${i}@example.com`, '198.51.100.70');
      await guard.passwordSucceeded(`colleague${i}@example.com`, '198.51.100.70');
    }
    await expect(guard.takePasswordAttempt('one.more@example.com', '198.51.100.70')).resolves.toMatchObject({
      pairFailures: 1,
    });
  });
});
