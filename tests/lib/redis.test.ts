import Redis from 'ioredis';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/lib/logger';
import { loadConfig } from '../../src/config';
import { createRedis, reconnectDelay, waitForRedis } from '../../src/lib/redis';
import { SlidingWindowStore } from '../../src/lib/sliding-window-store';
import { testNamespace, testRedisUrl } from '../support/env';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines };
}

describe('createRedis', () => {
  it('when REDIS_URL is unset outside production, then the client targets the local redis-server, never an in-process emulation', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).redis.url.reveal()).toBe('redis://127.0.0.1:6379');
    expect(loadConfig({ NODE_ENV: 'test' }).redis.url.reveal()).toBe('redis://127.0.0.1:6379');
    const redis = createRedis(
      { url: 'redis://127.0.0.1:1', logger: createLogger({ level: 'silent' }) },
      { lazyConnect: true },
    );
    expect(redis).toBeInstanceOf(Redis);
    expect((redis as Redis).options.port).toBe(1);
    redis.disconnect();
  });

  it('when the sliding-window store runs on the real server, then limits and reset times are right (milliseconds, not 1970)', async () => {
    const { stream, lines } = capture();
    const ns = testNamespace(__filename);
    const redis = createRedis(
      { url: testRedisUrl(), logger: createLogger({ level: 'info', destination: stream }) },
      { keyPrefix: ns.redisPrefix },
    );
    try {
      expect(await waitForRedis(redis, 5_000)).toBe(true);
      const store = new SlidingWindowStore({ redis, prefix: 'rl:test:', windowMs: 60_000, limit: 2 });
      const before = Date.now();
      const hits = [await store.increment('client'), await store.increment('client'), await store.increment('client')];
      expect(hits.map((h) => h.totalHits)).toEqual([1, 2, 3]);
      for (const h of hits) {
        expect(h.resetTime!.getTime()).toBeGreaterThanOrEqual(before + 59_000);
        expect(h.resetTime!.getTime()).toBeLessThanOrEqual(Date.now() + 61_000);
      }
      await store.resetKey('client');
      expect(lines.join('')).toContain('redis ready');
    } finally {
      redis.disconnect();
    }
  });

  it('when reconnecting, then the delay grows and stays capped at 5 s', () => {
    expect(reconnectDelay(0)).toBeLessThanOrEqual(100);
    expect(reconnectDelay(3)).toBeGreaterThanOrEqual(400);
    for (let i = 0; i < 50; i++) expect(reconnectDelay(i)).toBeLessThanOrEqual(5000);
  });
});
