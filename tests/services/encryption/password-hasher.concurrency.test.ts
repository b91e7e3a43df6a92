import { PasswordHasher } from '../../../src/services/encryption/password-hasher';
import { availableParallelism } from 'node:os';
import { loadConfig } from '../../../src/config';

describe('PasswordHasher concurrency cap', () => {
  it('when more hashes are asked for than the cap, then only the cap runs on the thread pool and the rest queue, all completing correctly', async () => {
    const hasher = new PasswordHasher(10, undefined, 1);
    const passwords = ['first-password-long', 'second-password-long', 'third-password-long'];
    const hashing = passwords.map((p) => hasher.hash(p));
    expect(hasher.load).toEqual({ running: 1, waiting: 2 });
    const hashes = await Promise.all(hashing);
    expect(hasher.load).toEqual({ running: 0, waiting: 0 });
    const checks = passwords.map((p, i) => hasher.verify(p, hashes[i]));
    expect(hasher.load).toEqual({ running: 1, waiting: 2 });
    expect(await Promise.all(checks)).toEqual([true, true, true]);
    expect(await hasher.verify('second-password-long', hashes[0])).toBe(false);
  });

  it('when BCRYPT_CONCURRENCY is unset, then the cap leaves a core to the event loop; when set, then it is used', () => {
    const base = { NODE_ENV: 'test', MONGODB_URI: 'mongodb://127.0.0.1:1/x', REDIS_URL: 'redis://127.0.0.1:1' };
    const cores = availableParallelism();
    expect(loadConfig(base).passwords.concurrency).toBe(Math.max(1, cores - 1));
    expect(loadConfig({ ...base, BCRYPT_CONCURRENCY: '3' }).passwords.concurrency).toBe(3);
    expect(() => loadConfig({ ...base, BCRYPT_CONCURRENCY: '0' })).toThrow();
  });
});
