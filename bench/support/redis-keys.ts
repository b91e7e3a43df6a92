/** What the soak test (and the bench clean-up) reads of Redis: the keys under one prefix, from outside the app. */
import Redis from 'ioredis';

export interface KeyCensus {
  total: number;
  /** Keys without an expiry (TTL -1): must be a fixed set, never growing with traffic. */
  persistent: string[];
  /** The longest remaining TTL in seconds among expiring keys. */
  maxTtlSeconds: number;
  /** Key count per kind (the prefix and any ids stripped: `rl:general`, `sess:state`, ...). */
  byKind: Record<string, number>;
}

/** The kind of a key: its first two `:`-separated parts after the prefix. */
export const kindOf = (key: string, prefix: string): string =>
  key.slice(prefix.length).split(':').slice(0, 2).join(':');

export async function censusOf(redisUrl: string, prefix: string): Promise<KeyCensus> {
  const redis = new Redis(redisUrl);
  const census: KeyCensus = { total: 0, persistent: [], maxTtlSeconds: 0, byKind: {} };
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = redis.pipeline();
      for (const k of keys) pipeline.pttl(k);
      const ttls = (await pipeline.exec()) ?? [];
      keys.forEach((k, i) => {
        const ttl = Number(ttls[i]?.[1]);
        if (ttl === -2) return; // expired between SCAN and PTTL
        census.total++;
        census.byKind[kindOf(k, prefix)] = (census.byKind[kindOf(k, prefix)] ?? 0) + 1;
        if (ttl === -1) census.persistent.push(k.slice(prefix.length));
        else census.maxTtlSeconds = Math.max(census.maxTtlSeconds, Math.ceil(ttl / 1000));
      });
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  census.persistent.sort();
  return census;
}

/** Deletes every key under `prefix` (only a benchmark's or test's own prefix). */
export async function deleteKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl);
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) n += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return n;
}
