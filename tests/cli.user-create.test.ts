import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from './support/app';
import { testMongoUri, testRedisUrl } from './support/env';
import { runTs } from './support/process';
import { login } from './support/users';

describe('npm run cli -- user:create', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
  });
  afterAll(() => t.close());

  const cli = (args: string[], stdin: string) => {
    const p = runTs(
      'src/cli.ts',
      {
        NODE_ENV: 'test',
        MONGODB_URI: testMongoUri(t.dbName),
        REDIS_URL: testRedisUrl(),
        REDIS_KEY_PREFIX: t.redisPrefix,
        BCRYPT_COST: '10',
        LOG_LEVEL: 'warn',
      },
      ['user:create', ...args],
    );
    p.child.stdin?.end(stdin);
    return p;
  };

  it('when the password comes on stdin, then the user is created and can sign in; the password is in no output', async () => {
    const p = cli(['--email', 'Ops@Example.com', '--role', 'admin', '--name', 'Ops'], 'orchid-lantern-river-4417\n');
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toMatch(/created admin Ops@Example.com/);
    expect(p.stdout() + p.stderr()).not.toContain('orchid-lantern-river-4417');
    expect((await login(t, 'ops@example.com', 'orchid-lantern-river-4417')).status).toBe(200);
  }, 180_000);

  it('when the password is a common one, then the command fails and says why', async () => {
    const p = cli(['--email', 'weak@example.com', '--role', 'user'], 'password1234\n');
    expect(await p.exited).not.toBe(0);
    expect(p.stderr()).toMatch(/commonly used/);
    expect(await t.container.models.User.countDocuments({ emailLower: 'weak@example.com' })).toBe(0);
  }, 180_000);
});
