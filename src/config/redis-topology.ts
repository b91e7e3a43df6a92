import { Secret } from '../lib/secret';
import type { RedisEndpoint, RedisTopology } from '../lib/redis';
import type { Env } from './schema';

/** How this service reaches Redis: REDIS_URL (one node), REDIS_SENTINELS or REDIS_CLUSTER_NODES. */
export type RedisConnectionConfig =
  | { kind: 'single' }
  | {
      kind: 'sentinel';
      sentinels: RedisEndpoint[];
      masterName: string;
      sentinelPassword?: Secret<string>;
      username?: string;
      password?: Secret<string>;
    }
  | { kind: 'cluster'; nodes: RedisEndpoint[]; username?: string; password?: Secret<string> };

/** `host:port` or `[v6 address]:port`. */
function parseEndpoint(raw: string): RedisEndpoint | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(raw);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) return null;
  return { host: m[1] ?? m[2], port };
}

function parseEndpoints(name: string, raw: string, problems: string[]): RedisEndpoint[] {
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const endpoints: RedisEndpoint[] = [];
  for (const entry of entries) {
    const endpoint = parseEndpoint(entry);
    if (endpoint) endpoints.push(endpoint);
    else problems.push(`${name}: "${entry}" is not host:port`);
  }
  if (entries.length === 0) problems.push(`${name}: lists no host:port`);
  return endpoints;
}

/**
 * Picks the Redis topology from the environment, and refuses combinations that would
 * leave the operator guessing which Redis is used: at most one of REDIS_URL,
 * REDIS_SENTINELS and REDIS_CLUSTER_NODES.
 */
export function parseRedisConnection(env: Env, problems: string[]): RedisConnectionConfig {
  const sentinels = env.REDIS_SENTINELS;
  const cluster = env.REDIS_CLUSTER_NODES;
  const credentials = {
    username: env.REDIS_USERNAME,
    password: env.REDIS_PASSWORD === undefined ? undefined : new Secret(env.REDIS_PASSWORD),
  };
  if (sentinels !== undefined && cluster !== undefined) {
    problems.push('REDIS_SENTINELS and REDIS_CLUSTER_NODES: set one of them (Sentinel or Cluster), not both');
    return { kind: 'single' };
  }
  if ((sentinels !== undefined || cluster !== undefined) && env.REDIS_URL !== undefined) {
    problems.push(
      `REDIS_URL: unset it when ${sentinels !== undefined ? 'REDIS_SENTINELS' : 'REDIS_CLUSTER_NODES'} is used (credentials go in REDIS_USERNAME / REDIS_PASSWORD)`,
    );
  }
  if (sentinels === undefined) {
    if (env.REDIS_SENTINEL_NAME !== undefined) problems.push('REDIS_SENTINEL_NAME: only used with REDIS_SENTINELS');
    if (env.REDIS_SENTINEL_PASSWORD !== undefined)
      problems.push('REDIS_SENTINEL_PASSWORD: only used with REDIS_SENTINELS');
  }
  if (sentinels === undefined && cluster === undefined) {
    if (env.REDIS_USERNAME !== undefined || env.REDIS_PASSWORD !== undefined)
      problems.push('REDIS_USERNAME / REDIS_PASSWORD: only used with REDIS_SENTINELS or REDIS_CLUSTER_NODES');
    return { kind: 'single' };
  }
  if (sentinels !== undefined) {
    if (env.REDIS_SENTINEL_NAME === undefined)
      problems.push('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the master name the sentinels monitor)');
    return {
      kind: 'sentinel',
      sentinels: parseEndpoints('REDIS_SENTINELS', sentinels, problems),
      masterName: env.REDIS_SENTINEL_NAME ?? '',
      sentinelPassword: env.REDIS_SENTINEL_PASSWORD === undefined ? undefined : new Secret(env.REDIS_SENTINEL_PASSWORD),
      ...credentials,
    };
  }
  // A prefix with a hash tag would put every key of the service in one slot: one node does all the work.
  if (/[{}]/.test(env.REDIS_KEY_PREFIX))
    problems.push(
      'REDIS_KEY_PREFIX: must not contain { or } with REDIS_CLUSTER_NODES (a hash tag in the prefix would put every key in one slot)',
    );
  return { kind: 'cluster', nodes: parseEndpoints('REDIS_CLUSTER_NODES', cluster ?? '', problems), ...credentials };
}

/** The factory's view (src/lib/redis.ts): secrets revealed, for the container only. */
export function redisTopology(redis: { url: Secret<string>; connection: RedisConnectionConfig }): RedisTopology {
  const c = redis.connection;
  if (c.kind === 'single') return { kind: 'single', url: redis.url.reveal() };
  const credentials = { username: c.username, password: c.password?.reveal() };
  if (c.kind === 'sentinel')
    return {
      kind: 'sentinel',
      sentinels: c.sentinels,
      masterName: c.masterName,
      sentinelPassword: c.sentinelPassword?.reveal(),
      ...credentials,
    };
  return { kind: 'cluster', nodes: c.nodes, ...credentials };
}
