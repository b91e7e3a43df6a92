import { testMongoUri, testNamespace, testRedisUrl } from './support/env';
import { runTs } from './support/process';
import mongoose from 'mongoose';

describe('operator CLI', () => {
  const ns = testNamespace(__filename);
  const env = { NODE_ENV: 'test', MONGODB_URI: testMongoUri(ns.dbName), REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: ns.redisPrefix, MONGODB_MIN_POOL_SIZE: '1', BCRYPT_COST: '10' };
  afterAll(async () => {
    const conn = await mongoose.createConnection(testMongoUri(ns.dbName)).asPromise();
    await conn.dropDatabase();
    await conn.close();
  });

  const create = async (password: string, email = 'first.admin@example.com') => {
    const p = runTs('src/cli.ts', env, ['user:create', '--email', email, '--name', 'First Admin', '--role', 'admin']);
    p.child.stdin?.end(password + '\n');
    return { code: await p.exited, out: p.stdout(), err: p.stderr() };
  };

  it('when the first admin is created with a password on stdin, then the account exists; a common password is refused with the reason', async () => {
    const weak = await create('password1234');
    expect(weak.code).toBe(1);
    expect(weak.err).toMatch(/commonly used/);
    const ok = await create('granite-orchard-41-sideways');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/created admin first\.admin@example\.com/);
    expect(ok.out + ok.err).not.toContain('granite-orchard-41-sideways');
    const dup = await create('granite-orchard-41-sideways');
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/already exists/);
  }, 60_000);
});
