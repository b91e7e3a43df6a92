import mongoose from 'mongoose';
import Redis from 'ioredis';
import { testMongoUri, testNamespace, testRedisUrl } from './env';

describe('test servers', () => {
  it('when the global setup ran, then MongoDB-wire and Redis answer', async () => {
    const ns = testNamespace(__filename);
    const conn = await mongoose
      .createConnection(testMongoUri(ns.dbName), { serverSelectionTimeoutMS: 5000 })
      .asPromise();
    const redis = new Redis(testRedisUrl());
    try {
      expect((await conn.db!.admin().ping()).ok).toBe(1);
      expect(await redis.ping()).toBe('PONG');
    } finally {
      await conn.dropDatabase();
      await conn.close();
      redis.disconnect();
    }
  });
});
