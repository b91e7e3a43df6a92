import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config';
import { redisTopology } from '../../src/config/redis-topology';
import { configProblems } from '../support/config';

const key32 = (): string => randomBytes(32).toString('base64');
/** Production with every secret but no Redis setting: each test adds one topology. */
const production = (redis: Record<string, string>): Record<string, string> => ({
  NODE_ENV: 'production',
  MONGODB_URI: 'mongodb://db.internal:27017/erp?replicaSet=rs0',
  JWT_SECRET: randomBytes(32).toString('hex'),
  ENCRYPTION_KEYS: `k1:${key32()}`,
  BLIND_INDEX_KEY: key32(),
  AUDIT_HMAC_KEYS: `a1:${key32()}`,
  TRUST_PROXY: '1',
  SMTP_URL: 'smtps://mailer:secret@mail.internal:465',
  ...redis,
});

describe('Redis topology configuration', () => {
  it('when production names sentinels and a master name instead of REDIS_URL, then it loads as a Sentinel topology with its secrets wrapped', () => {
    const config = loadConfig(
      production({
        REDIS_SENTINELS: '10.0.0.5:26379, 10.0.0.6:26379,[fd00::7]:26380',
        REDIS_SENTINEL_NAME: 'erp-cache',
        REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
        REDIS_PASSWORD: 'data-secret',
      }),
    );
    expect(config.redis.connection).toMatchObject({
      kind: 'sentinel',
      masterName: 'erp-cache',
      sentinels: [
        { host: '10.0.0.5', port: 26379 },
        { host: '10.0.0.6', port: 26379 },
        { host: 'fd00::7', port: 26380 },
      ],
    });
    // Secrets stay wrapped in config (never printed) and are revealed only for the client factory.
    expect(JSON.stringify(config.redis)).not.toMatch(/sentinel-secret|data-secret/);
    expect(redisTopology(config.redis)).toMatchObject({
      kind: 'sentinel',
      sentinelPassword: 'sentinel-secret',
      password: 'data-secret',
    });
  });

  it('when production names cluster seed nodes, then it loads as a Cluster topology', () => {
    const config = loadConfig(production({ REDIS_CLUSTER_NODES: 'cache-1.internal:7000,cache-2.internal:7000' }));
    expect(redisTopology(config.redis)).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'cache-1.internal', port: 7000 },
        { host: 'cache-2.internal', port: 7000 },
      ],
      username: undefined,
      password: undefined,
    });
  });

  it('when only REDIS_URL is set, then the single-node client is used as before', () => {
    const config = loadConfig({ NODE_ENV: 'development', REDIS_URL: 'redis://127.0.0.1:6390' });
    expect(redisTopology(config.redis)).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6390' });
  });

  it('when production has no Redis at all, then the problem names all three ways', () => {
    expect(configProblems(production({}))).toEqual([
      expect.stringMatching(/^REDIS_URL: required in production .*REDIS_SENTINELS \/ REDIS_CLUSTER_NODES/),
    ]);
  });

  it('when settings contradict each other, then startup fails naming each variable and what to do', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        { REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'b:7000' },
        /^REDIS_SENTINELS and REDIS_CLUSTER_NODES: set one of them/,
      ],
      [
        { REDIS_URL: 'redis://a:6379', REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm' },
        /^REDIS_URL: unset it when REDIS_SENTINELS/,
      ],
      [{ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'a:7000' }, /^REDIS_URL: unset it when REDIS_CLUSTER_NODES/],
      [{ REDIS_SENTINELS: 'a:26379' }, /^REDIS_SENTINEL_NAME: required with REDIS_SENTINELS/],
      [
        { REDIS_URL: 'redis://a:6379', REDIS_SENTINEL_NAME: 'm' },
        /^REDIS_SENTINEL_NAME: only used with REDIS_SENTINELS/,
      ],
      [{ REDIS_URL: 'redis://a:6379', REDIS_PASSWORD: 'x' }, /^REDIS_USERNAME \/ REDIS_PASSWORD: only used with/],
      [
        { REDIS_SENTINELS: 'a:26379,nonsense', REDIS_SENTINEL_NAME: 'm' },
        /^REDIS_SENTINELS: "nonsense" is not host:port/,
      ],
      [{ REDIS_CLUSTER_NODES: 'a:70000' }, /^REDIS_CLUSTER_NODES: "a:70000" is not host:port/],
      [{ REDIS_CLUSTER_NODES: ' , ' }, /^REDIS_CLUSTER_NODES: lists no host:port/],
      [
        { REDIS_CLUSTER_NODES: 'a:7000', REDIS_KEY_PREFIX: '{erp}:' },
        /^REDIS_KEY_PREFIX: must not contain \{ or \} with REDIS_CLUSTER_NODES/,
      ],
    ];
    for (const [env, message] of cases) {
      const problems = configProblems(production(env));
      expect(problems).toContainEqual(expect.stringMatching(message));
    }
  });
});
