import { childEnv, testMongoUri, testNamespace } from './support/env';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { runTs, waitFor } from './support/process';
import mongoose from 'mongoose';
import { randomBytes, randomUUID } from 'node:crypto';
import { buildTestApp } from './support/app';

describe('operator CLI', () => {
  const ns = testNamespace(__filename);
  const env = childEnv(ns, { BCRYPT_COST: '10' });
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
  }, 180_000);

  it('when run on a terminal, then it prompts for the password with echo off and creates the account', async () => {
    // `script` gives the CLI a real pseudo-terminal, as an operator's shell would.
    const command = [
      process.execPath,
      '--import',
      'tsx',
      'src/cli.ts',
      'user:create',
      '--email',
      'tty.admin@example.com',
      '--name',
      'Tty Admin',
      '--role',
      'admin',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: path.resolve(__dirname, '..'),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TERM: 'dumb', ...env },
    });
    let seen = '';
    child.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    child.stderr.on('data', (d: Buffer) => (seen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => seen.includes('Password:'), 120_000, 'the password prompt');
    child.stdin.write('quartz-meadow-58-backwards\r');
    expect(await exited).toBe(0);
    expect(seen).toMatch(/created admin tty\.admin@example\.com/);
    expect(seen).not.toContain('quartz-meadow-58-backwards');
  }, 180_000);

  it('when a key is to be retired, then keys:usage counts it, keys:check-retire refuses until keys:rotate has moved everything off it', async () => {
    const keyA = `kA:${randomBytes(32).toString('base64')}`;
    const keyB = `kB:${randomBytes(32).toString('base64')}`;
    const blind = randomBytes(32).toString('base64');
    const keysEnv = { ...env, MONGODB_URI: testMongoUri(ns.dbName + '_keys'), BLIND_INDEX_KEY: blind };
    const seeded = await buildTestApp(__filename, {
      MONGODB_URI: keysEnv.MONGODB_URI,
      ENCRYPTION_KEYS: keyA,
      BLIND_INDEX_KEY: blind,
    });
    try {
      for (const n of [1, 2, 3]) {
        await seeded.container.models.Employee.create({
          _id: randomUUID(),
          name: `E${n}`,
          workEmail: `e${n}@keys.example`,
          department: 'it',
          nationalId: `NID-${n}`,
          bankAccount: `DE0${n}120300000000202051`,
        });
      }
    } finally {
      await seeded.container.stop();
    }
    const cli = async (...args: string[]) => {
      const p = runTs(
        'src/cli.ts',
        { ...keysEnv, ENCRYPTION_KEYS: `${keyA},${keyB}`, ENCRYPTION_ACTIVE_KEY_ID: 'kB' },
        args,
      );
      return { code: await p.exited, out: p.stdout(), err: p.stderr() };
    };
    const usage = await cli('keys:usage');
    expect(usage.code).toBe(0);
    expect(JSON.parse(usage.out)).toEqual({ kA: 3, kB: 0 });
    const refused = await cli('keys:check-retire', '--key', 'kA');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/still encrypts 3 documents/);
    expect((await cli('keys:check-retire', '--key', 'kB')).err).toMatch(/active key/);
    const rotated = await cli('keys:rotate');
    expect(rotated.code).toBe(0);
    expect(rotated.out).toMatch(/employees: scanned 3, re-encrypted 3 \(done\)/);
    expect((await cli('keys:check-retire', '--key', 'kA')).code).toBe(0);
    expect(JSON.parse((await cli('keys:usage')).out)).toEqual({ kA: 0, kB: 3 });
    const conn = await mongoose.createConnection(keysEnv.MONGODB_URI).asPromise();
    expect(JSON.stringify(await conn.db!.collection('employees').find().toArray())).not.toMatch(/v1\.kA\.|NID-/);
    await conn.dropDatabase();
    await conn.close();
  }, 180_000);
});
