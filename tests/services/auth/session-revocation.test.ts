import { createLogger } from '../../../src/lib/logger';
import { createRedis, waitForRedis, type RedisClient } from '../../../src/lib/redis';
import { SessionRevocation, type SessionFacts } from '../../../src/services/auth/session-revocation';
import { factsOf, type SessionStub } from '../../support/revocation';
import { testNamespace, testRedisUrl } from '../../support/env';
import { waitFor } from '../../support/process';

/** The cache's edge cases, with a map standing in for MongoDB so its answers can be changed behind the cache's back. */
describe('SessionRevocation (Redis cache over the session store)', () => {
  const prefix = testNamespace(__filename).redisPrefix;
  const silent = createLogger({ level: 'silent' });
  const clients: RedisClient[] = [];
  const client = async (): Promise<RedisClient> => {
    const c = createRedis({ url: testRedisUrl(), logger: silent }, { keyPrefix: prefix });
    clients.push(c);
    expect(await waitForRedis(c, 5_000)).toBe(true);
    return c;
  };
  afterAll(async () => {
    const c = clients[0];
    const keys = await c.keys(`${prefix}*`);
    if (keys.length) await c.del(...keys.map((k) => k.slice(prefix.length)));
    for (const x of clients) x.disconnect();
  });

  const over = (
    redis: RedisClient,
    db: Map<string, SessionStub>,
    lookup?: (sid: string) => Promise<SessionStub | null>,
  ) =>
    new SessionRevocation({
      redis,
      lookup: async (sid): Promise<SessionFacts | null> => {
        const stub = lookup ? await lookup(sid) : db.get(sid);
        return stub ? factsOf(stub) : null;
      },
      accessTtlSeconds: 900,
      logger: silent,
    });

  it('when a revocation could not reach Redis while another process had the session cached as live, then once Redis is reachable again the stale live mark is no longer trusted', async () => {
    const db = new Map<string, SessionStub>([['sess-partitioned', { userId: 'u1', ended: false }]]);
    const processA = await client();
    const processB = await client();
    const a = over(processA, db);
    const b = over(processB, db);
    await b.assertLive('sess-partitioned', 'u1'); // cached as live

    // Process A is cut off from Redis while it ends the session (MongoDB has it).
    processA.disconnect();
    db.set('sess-partitioned', { userId: 'u1', ended: true });
    await a.revoked(['sess-partitioned']);
    await expect(b.assertLive('sess-partitioned', 'u1')).resolves.toBeUndefined(); // the stale mark, for now

    processA.connect().catch(() => undefined);
    await waitFor(() => processA.status === 'ready', 10_000, 'process A to reconnect');
    // A's next use of Redis (its own check of any session) first drops the epoch it could not protect.
    db.set('sess-other-user', { userId: 'u9', ended: false });
    await a.assertLive('sess-other-user', 'u9');
    // B now asks the store, which says the session ended.
    await expect(b.assertLive('sess-partitioned', 'u1')).rejects.toMatchObject({
      status: 401,
      code: 'session-revoked',
    });
  });

  it('when a revocation lands between a cache miss reading the store and writing its answer, then the live answer does not overwrite the revocation', async () => {
    const redis = await client();
    // The store answers "live", and the revocation is written before that answer is cached.
    const svc: SessionRevocation = over(redis, new Map(), async () => {
      await svc.revoked(['sess-race']);
      return { userId: 'u1', ended: false };
    });
    await svc.assertLive('sess-race', 'u1'); // read before the revocation: allowed once
    await expect(svc.assertLive('sess-race', 'u1')).rejects.toMatchObject({ status: 401, code: 'session-revoked' });
  });

  it('when the store cannot be read on a cache miss, then the check fails closed with 503', async () => {
    const redis = await client();
    const svc = over(redis, new Map(), async () => {
      throw new Error('MongoDB unreachable');
    });
    await expect(svc.assertLive('sess-no-db', 'u1')).rejects.toMatchObject({ status: 503 });
  });

  it('when a session exists but belongs to another user, then the token is refused, also from the cache', async () => {
    const redis = await client();
    const svc = over(redis, new Map([['sess-other', { userId: 'u2', ended: false }]]));
    for (let i = 0; i < 2; i++)
      await expect(svc.assertLive('sess-other', 'u1')).rejects.toMatchObject({ status: 401, code: 'invalid-token' });
    await expect(svc.assertLive('sess-other', 'u2')).resolves.toBeUndefined();
  });
});
