import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from './logger';

/**
 * The client every service talks to: one node (REDIS_URL), a Sentinel-managed master
 * (a `Redis` that asks the sentinels where the master is) or a Redis Cluster. Services
 * use only commands both kinds share, with every multi-key script and transaction on
 * keys of one hash slot (see docs/SCALING.md).
 */
export type RedisClient = Redis | Cluster;

export interface RedisEndpoint {
  host: string;
  port: number;
}

/** Where Redis is; secrets are already revealed here (only the container builds this). */
export type RedisTopology =
  | { kind: 'single'; url: string }
  | {
      kind: 'sentinel';
      sentinels: RedisEndpoint[];
      /** The master name the sentinels monitor (`sentinel monitor <name> ...`). */
      masterName: string;
      sentinelPassword?: string;
      username?: string;
      password?: string;
    }
  | { kind: 'cluster'; nodes: RedisEndpoint[]; username?: string; password?: string };

export type RedisFactoryOptions = { logger: Logger } & ({ url: string } | { topology: RedisTopology });

/** Reconnect with capped exponential backoff plus jitter, so a Redis restart is not met by a thundering herd. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt, 10), 5_000);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/**
 * After a Sentinel failover the sentinels need a moment to agree on the new master; the
 * client asks them again at this pace (fast: every attempt is cheap and the outage is live).
 */
export function sentinelRetryDelay(attempt: number): number {
  return Math.min(100 + attempt * 100, 1_000);
}

const COMMON: RedisOptions = {
  // Fail fast while disconnected: a rate limiter or revocation check must answer now
  // (fail open or closed), not queue behind reconnect backoff.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 5_000,
  enableAutoPipelining: true,
};

function build(topology: RedisTopology, extra: RedisOptions): RedisClient {
  switch (topology.kind) {
    case 'single':
      return new Redis(topology.url, { retryStrategy: reconnectDelay, ...COMMON, ...extra });
    case 'sentinel':
      return new Redis({
        ...COMMON,
        sentinels: topology.sentinels,
        name: topology.masterName,
        sentinelPassword: topology.sentinelPassword,
        username: topology.username,
        password: topology.password,
        // A reconnect after the master died asks the sentinels again; their answer changes on promotion.
        retryStrategy: sentinelRetryDelay,
        sentinelRetryStrategy: reconnectDelay,
        // Not ioredis' failoverDetector: its +switch-master disconnect, landing while a reconnect
        // after the master's death is under way, ends the client for good (status "end", seen with
        // ioredis 5.11 in tests/reliability/redis-sentinel-failover.test.ts). Retries find the new master.
        failoverDetector: false,
        // A master demoted by a manual failover answers writes with READONLY: ask the sentinels again.
        reconnectOnError: (err) => err.message.startsWith('READONLY'),
        ...extra,
      });
    case 'cluster': {
      const { keyPrefix, enableOfflineQueue, lazyConnect, ...nodeExtra } = extra;
      const options: ClusterOptions = {
        keyPrefix,
        lazyConnect,
        enableOfflineQueue: enableOfflineQueue ?? false,
        enableAutoPipelining: true,
        clusterRetryStrategy: reconnectDelay,
        redisOptions: {
          maxRetriesPerRequest: 1,
          connectTimeout: 5_000,
          username: topology.username,
          password: topology.password,
          ...withoutNodeOnly(nodeExtra),
        },
      };
      return new Cluster(topology.nodes, options);
    }
  }
}

/** Options a Cluster takes for itself, not per node. */
function withoutNodeOnly(opts: RedisOptions): NonNullable<ClusterOptions['redisOptions']> {
  const rest: RedisOptions = { ...opts };
  delete rest.retryStrategy;
  delete rest.sentinels;
  delete rest.readOnly;
  delete rest.port;
  delete rest.host;
  delete rest.path;
  return rest;
}

/**
 * The one way a Redis client is made in this process, whatever the topology: the service
 * client (container) and the extra connections derived from it (duplicateRedis).
 */
export function createRedis(opts: RedisFactoryOptions, extra: RedisOptions = {}): RedisClient {
  const topology: RedisTopology = 'topology' in opts ? opts.topology : { kind: 'single', url: opts.url };
  const client = build(topology, extra);
  watch(client, opts.logger.child({ component: 'redis', topology: topology.kind }));
  return client;
}

function watch(client: RedisClient, log: Logger): void {
  let down = false;
  client.on('ready', () => {
    log.info(down ? 'redis reconnected' : 'redis ready');
    down = false;
  });
  client.on('error', (err: Error) => {
    // ioredis emits an error per failed reconnect attempt; log the first of an outage only.
    if (!down) log.error({ err: { message: err.message } }, 'redis error');
    down = true;
  });
  client.on('+switch-master', () => log.warn('redis sentinel failover: following the new master'));
  client.on('end', () => log.info('redis connection closed'));
}

/**
 * A second connection to the same Redis (e.g. a pub/sub subscriber, which cannot run other
 * commands), with the same topology and options plus `extra`.
 */
export function duplicateRedis(client: RedisClient, extra: RedisOptions = {}): RedisClient {
  if (client instanceof Cluster) {
    const { enableOfflineQueue, ...nodeExtra } = extra;
    return client.duplicate(undefined, {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      redisOptions: { ...client.options.redisOptions, ...withoutNodeOnly(nodeExtra) },
    });
  }
  return client.duplicate(extra);
}

/** What ioredis rejects a command with while it has no usable connection (fail-fast options above). */
const UNAVAILABLE_MESSAGES = [
  "Stream isn't writeable and enableOfflineQueue options is false",
  "Cluster isn't ready and enableOfflineQueue options is false",
  'Connection is closed.',
  'None of startup nodes is available',
  'Failed to refresh slots cache',
];
/** Server replies that mean "not now" during a failover or restart, not a bug in the command. */
const UNAVAILABLE_REPLIES = /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) /;

/**
 * Whether `err` says Redis could not be reached (or is failing over) rather than that a
 * command was wrong: such a request is answered 503 (try again), never 500.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  if (err.name === 'ReplyError') return UNAVAILABLE_REPLIES.test(err.message);
  return UNAVAILABLE_MESSAGES.some((m) => err.message.startsWith(m)) || /^connect E[A-Z]+/.test(err.message);
}

/** Resolves when the client is ready, or after timeoutMs (false): boot goes on and readiness reports the outage. */
export function waitForRedis(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}
