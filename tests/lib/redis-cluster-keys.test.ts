import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../src/lib/logger';
import { createRedis, waitForRedis, type RedisClient } from '../../src/lib/redis';
import { LoginGuard } from '../../src/services/auth/login-guard';
import { testNamespace, testRedisUrl } from '../support/env';

const SRC = path.resolve(__dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

/** Every template literal in src that holds Lua (calls redis.call), with its file. */
function luaScripts(): Array<{ file: string; lua: string }> {
  return sourceFiles(SRC).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/`([^`]*redis\.call[^`]*)`/g)].map((m) => ({
      file: path.relative(SRC, file),
      lua: m[1],
    })),
  );
}

/** Redis Cluster's slot of a key: CRC16 (XMODEM) of the hash tag, or of the whole key, mod 16384. */
function slotOf(key: string): number {
  const open = key.indexOf('{');
  let hashed = key;
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(hashed, 'utf8')) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/**
 * On a Redis Cluster a script or transaction may only touch keys of one hash slot, and a
 * script must be told every key it touches (KEYS), or the cluster cannot route it. The
 * functional proof runs on a real cluster (tests/reliability/redis-cluster.test.ts); these
 * checks catch a new script or key layout that breaks the rule without one.
 */
describe('cluster-safe Redis keys', () => {
  it('when the slot function is given known keys, then it agrees with Redis Cluster (hash tags included)', () => {
    // Values from CLUSTER KEYSLOT on Redis 7.
    expect(slotOf('foo')).toBe(12182);
    expect(slotOf('{user1000}.following')).toBe(slotOf('{user1000}.followers'));
    expect(slotOf('a{b}c')).toBe(slotOf('b'));
  });

  it('when a Lua script in src calls Redis, then every key it names comes from KEYS, never built inside the script', () => {
    const scripts = luaScripts();
    expect(scripts.length).toBeGreaterThanOrEqual(5);
    const offenders: string[] = [];
    for (const { file, lua } of scripts) {
      for (const call of lua.matchAll(/redis\.call\(\s*'([A-Za-z]+)'\s*(?:,\s*([^,)]+))?/g)) {
        const [, command, firstArg] = call;
        if (command.toUpperCase() === 'TIME') continue;
        if (!firstArg || !/^KEYS\[\d+\]$/.test(firstArg.trim())) offenders.push(`${file}: ${call[0]}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('when src calls Redis with several keys at once (MGET, multi-key DEL), then it does not: such calls would cross slots', () => {
    // Files that use the Redis client (fs.rename and the like elsewhere are no Redis calls).
    const redisUsers = sourceFiles(SRC).filter((file) => readFileSync(file, 'utf8').includes('RedisClient'));
    expect(redisUsers.length).toBeGreaterThanOrEqual(8);
    const offenders = redisUsers.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/\.(mget|mset|msetnx|sunion|sinter|rename|renamenx|smove)\(/gi)].map(
        (m) => `${path.relative(SRC, file)}: ${m[0]}`,
      ),
    );
    expect(offenders).toEqual([]);
  });

  describe('the login guard on a real Redis', () => {
    let redis: RedisClient;
    const evals: string[][] = [];
    const prefix = testNamespace(__filename).redisPrefix;

    beforeAll(async () => {
      redis = createRedis({ url: testRedisUrl(), logger: createLogger({ level: 'silent' }) }, { keyPrefix: prefix });
      expect(await waitForRedis(redis, 10_000)).toBe(true);
      // Records every script call's keys on the way to the real server.
      const real = redis.eval.bind(redis) as (...args: Array<string | number>) => Promise<unknown>;
      (redis as unknown as { eval: typeof real }).eval = (...args) => {
        const numKeys = Number(args[1]);
        evals.push(args.slice(2, 2 + numKeys).map(String));
        return real(...args);
      };
    });
    afterAll(() => redis.disconnect());

    it('when passwords are tried and succeed from IPv4 and IPv6 addresses, then every script call keeps its keys in one slot (with the prefix)', async () => {
      const guard = new LoginGuard({ redis });
      for (const ip of ['198.51.100.7', '2001:db8:1:2::5', '::ffff:203.0.113.9']) {
        for (const account of ['a@slots.example', 'b@slots.example']) {
          await guard.takePasswordAttempt(account, ip);
          await guard.passwordSucceeded(account, ip);
        }
      }
      await guard.takeAccountFactorAttempt('user-1', 0, 100);
      await guard.giveBackFactorAttempt('user-1', 'login-1', { account: true });
      expect(evals.length).toBeGreaterThanOrEqual(12);
      for (const keys of evals) {
        // ioredis adds the prefix; the slot is computed on the full key as the cluster does.
        const slots = new Set(keys.map((k) => slotOf(prefix + k)));
        expect({ keys, slots: slots.size }).toEqual({ keys, slots: 1 });
      }
    });
  });
});
