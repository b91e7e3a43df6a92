import { Writable } from 'node:stream';
import { createLogger } from '../../src/lib/logger';
import { createRedis, reconnectDelay } from '../../src/lib/redis';
import { SlidingWindowStore } from '../../src/lib/sliding-window-store';

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
  it('when REDIS_URL is unset outside production, then an in-process Redis (with Lua) is used and a warning logged once', async () => {
    const { stream, lines } = capture();
    const redis = createRedis({
      url: undefined,
      allowInProcessFallback: true,
      logger: createLogger({ level: 'warn', destination: stream }),
    });
    await redis.set('k', '1');
    expect(await redis.incr('k')).toBe(2);
    expect(await redis.eval("return redis.call('INCR', KEYS[1])", 1, 'k')).toBe(3);
    expect(lines.filter((l) => l.includes('in-process Redis'))).toHaveLength(1);
    redis.disconnect();
  });

  it('when the sliding-window store runs on the in-process fallback, then limits and reset times are right (no 32-bit overflow of milliseconds)', async () => {
    const redis = createRedis({
      url: undefined,
      allowInProcessFallback: true,
      logger: createLogger({ level: 'silent' }),
    });
    const store = new SlidingWindowStore({ redis, prefix: 'rl:test:', windowMs: 60_000, limit: 2 });
    const before = Date.now();
    const hits = [await store.increment('client'), await store.increment('client'), await store.increment('client')];
    expect(hits.map((h) => h.totalHits)).toEqual([1, 2, 3]);
    for (const h of hits) {
      expect(h.resetTime!.getTime()).toBeGreaterThanOrEqual(before + 59_000);
      expect(h.resetTime!.getTime()).toBeLessThanOrEqual(Date.now() + 65_000); // the fallback's TIME is coarse; the bug gave dates in 1970
    }
    redis.disconnect();
  });

  it('when the fallback is not allowed (production), then a missing URL is an error', () => {
    expect(() =>
      createRedis({ url: undefined, allowInProcessFallback: false, logger: createLogger({ level: 'silent' }) }),
    ).toThrow('REDIS_URL is required');
  });

  it('when reconnecting, then the delay grows and stays capped at 5 s', () => {
    expect(reconnectDelay(0)).toBeLessThanOrEqual(100);
    expect(reconnectDelay(3)).toBeGreaterThanOrEqual(400);
    for (let i = 0; i < 50; i++) expect(reconnectDelay(i)).toBeLessThanOrEqual(5000);
  });
});
