import Redis, { Cluster } from 'ioredis';
import { createLogger } from '../../src/lib/logger';
import { createRedis, duplicateRedis, isRedisUnavailable, waitForRedis, type RedisClient } from '../../src/lib/redis';
import { freePort } from '../../scripts/local-services';
import { testRedisUrl } from '../support/env';
import {
  startRedisCluster,
  startSentinelTopology,
  type ClusterTopology,
  type SentinelTopology,
} from '../support/redis-topologies';
import { waitFor } from '../support/wait';

const logger = createLogger({ level: 'silent' });

/** A key written through `writer`, read back and published through a duplicate subscriber. */
async function roundTrip(client: RedisClient): Promise<void> {
  expect(await waitForRedis(client, 20_000)).toBe(true);
  await client.set('factory:probe', 'ok', 'EX', 60);
  expect(await client.get('factory:probe')).toBe('ok');
  const sub = duplicateRedis(client, { enableOfflineQueue: true });
  const received: string[] = [];
  try {
    sub.on('message', (_channel: string, message: string) => received.push(message));
    await sub.subscribe('factory:channel');
    await client.publish('factory:channel', 'hello');
    await waitFor(() => received.length === 1, 20_000, 'the published message');
    expect(received).toEqual(['hello']);
  } finally {
    sub.disconnect();
  }
}

describe('Redis client factory', () => {
  it('when given a Sentinel topology, then it builds a Redis that asks the sentinels, fails fast and reconnects on READONLY', () => {
    const client = createRedis(
      {
        topology: {
          kind: 'sentinel',
          sentinels: [{ host: '127.0.0.1', port: 1 }],
          masterName: 'erp',
          sentinelPassword: 's',
          password: 'p',
        },
        logger,
      },
      { lazyConnect: true, keyPrefix: 'x:' },
    ) as Redis;
    try {
      expect(client).toBeInstanceOf(Redis);
      expect(client.options).toMatchObject({
        sentinels: [{ host: '127.0.0.1', port: 1 }],
        name: 'erp',
        sentinelPassword: 's',
        password: 'p',
        keyPrefix: 'x:',
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        failoverDetector: false,
      });
      const reconnectOnError = client.options.reconnectOnError as (err: Error) => boolean;
      expect(reconnectOnError(new Error("READONLY You can't write against a read only replica."))).toBe(true);
      expect(reconnectOnError(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(
        false,
      );
    } finally {
      client.disconnect();
    }
  });

  it('when given a Cluster topology, then it builds a Cluster with the prefix on top and per-node credentials, and its duplicate stays a Cluster', () => {
    const client = createRedis(
      { topology: { kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }], password: 'p' }, logger },
      { lazyConnect: true, keyPrefix: 'x:' },
    ) as Cluster;
    const dup = duplicateRedis(client, { enableOfflineQueue: true }) as Cluster;
    try {
      expect(client).toBeInstanceOf(Cluster);
      expect(client.options).toMatchObject({ keyPrefix: 'x:', enableOfflineQueue: false, lazyConnect: true });
      expect(client.options.redisOptions).toMatchObject({ password: 'p', maxRetriesPerRequest: 1 });
      expect(dup).toBeInstanceOf(Cluster);
      expect(dup.options).toMatchObject({ keyPrefix: 'x:', enableOfflineQueue: true });
    } finally {
      client.disconnect();
      dup.disconnect();
    }
  });

  it('when Redis cannot be reached, then the error counts as "unavailable" (503); a wrong command does not', async () => {
    const down = createRedis({ url: `redis://127.0.0.1:${await freePort()}`, logger });
    down.on('error', () => undefined);
    const up = createRedis({ url: testRedisUrl(), logger }, { keyPrefix: `factory:${process.pid}:` });
    try {
      const offline = await down.get('k').catch((e: unknown) => e);
      expect(isRedisUnavailable(offline)).toBe(true);
      expect(await waitForRedis(up, 10_000)).toBe(true);
      await up.set('str', 'v', 'EX', 60);
      const wrongType = await up.lpush('str', 'x').catch((e: unknown) => e);
      expect((wrongType as Error).message).toMatch(/^WRONGTYPE/);
      expect(isRedisUnavailable(wrongType)).toBe(false);
      const readonly = Object.assign(new Error("READONLY You can't write against a read only replica."), {
        name: 'ReplyError',
      });
      expect(isRedisUnavailable(readonly)).toBe(true);
      expect(isRedisUnavailable('not an error')).toBe(false);
    } finally {
      await up.del('str');
      down.disconnect();
      up.disconnect();
    }
  });

  describe('on real topologies', () => {
    let sentinel: SentinelTopology;
    let cluster: ClusterTopology;
    beforeAll(async () => {
      [sentinel, cluster] = await Promise.all([startSentinelTopology(), startRedisCluster()]);
    }, 120_000);
    afterAll(async () => {
      await sentinel?.stop();
      await cluster?.stop();
    });

    it('when connected through three sentinels, then commands reach the master and a duplicate subscriber gets messages', async () => {
      const client = createRedis(
        {
          topology: { kind: 'sentinel', sentinels: sentinel.sentinelEndpoints, masterName: sentinel.masterName },
          logger,
        },
        { keyPrefix: 'factory:' },
      );
      try {
        await roundTrip(client);
        expect(Number(((await (client as Redis).config('GET', 'port')) as string[])[1])).toBe(sentinel.master.port);
      } finally {
        client.disconnect();
      }
    });

    it('when connected to a three-master cluster through one seed node, then commands and pub/sub work across it', async () => {
      const client = createRedis(
        { topology: { kind: 'cluster', nodes: cluster.endpoints.slice(0, 1) }, logger },
        { keyPrefix: 'factory:' },
      );
      try {
        await roundTrip(client);
        expect((client as Cluster).nodes('master')).toHaveLength(3);
      } finally {
        client.disconnect();
      }
    });
  });
});
