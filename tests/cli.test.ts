import { testMongoUri, testNamespace, testRedisUrl } from './support/env';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { runTs, waitFor } from './support/process';
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

  it('when run on a terminal, then it prompts for the password with echo off and creates the account', async () => {
    // `script` gives the CLI a real pseudo-terminal, as an operator's shell would.
    const command = [process.execPath, '--import', 'tsx', 'src/cli.ts', 'user:create', '--email', 'tty.admin@example.com', '--name', 'Tty Admin', '--role', 'admin'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: path.resolve(__dirname, '..'), env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TERM: 'dumb', ...env } });
    let seen = '';
    child.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    child.stderr.on('data', (d: Buffer) => (seen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => seen.includes('Password:'), 30_000, 'the password prompt');
    child.stdin.write('quartz-meadow-58-backwards\r');
    expect(await exited).toBe(0);
    expect(seen).toMatch(/created admin tty\.admin@example\.com/);
    expect(seen).not.toContain('quartz-meadow-58-backwards');
  }, 60_000);
});
