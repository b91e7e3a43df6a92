import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { buildTestApp, type TestApp } from './support/app';
import { childEnv, testMongoUri, testNamespace } from './support/env';
import { runTs } from './support/process';
import { bearer, createUser, mfaSession } from './support/users';

const KEY_A = `kA:${randomBytes(32).toString('base64')}`;
const KEY_B = `kB:${randomBytes(32).toString('base64')}`;
const BLIND = randomBytes(32).toString('base64');

/**
 * keys:usage and keys:check-retire as an operator runs them (a real process), around a
 * rotation started over HTTP, with data the services encrypt themselves (a TOTP secret)
 * as well as model fields. The three steps build on each other and run in order.
 */
describe('operator CLI: keys:usage and keys:check-retire', () => {
  const ns = testNamespace(__filename);
  const mongoUri = testMongoUri(ns.dbName);
  const base = childEnv(ns, { BLIND_INDEX_KEY: BLIND });
  let totpSecret = '';
  let totpUserId = '';
  let last: TestApp | undefined;

  /** The app on this file's database with the given key ring. */
  const appWith = async (keys: Record<string, string>): Promise<TestApp> =>
    (last = await buildTestApp(__filename, {
      MONGODB_URI: mongoUri,
      REDIS_KEY_PREFIX: ns.redisPrefix,
      BLIND_INDEX_KEY: BLIND,
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '10000/60',
      ...keys,
    }));

  const cli = async (keys: Record<string, string>, ...args: string[]) => {
    const p = runTs('src/cli.ts', { ...base, ...keys }, args);
    return { code: await p.exited, out: p.stdout(), err: p.stderr() };
  };
  const ringAB = { ENCRYPTION_KEYS: `${KEY_A},${KEY_B}`, ENCRYPTION_ACTIVE_KEY_ID: 'kB' };

  afterAll(async () => {
    // The last app opened drops the database and the Redis keys.
    await last?.close();
  });

  it('when data was written under key A only, then keys:usage counts it and check-retire refuses A as the active key', async () => {
    const seeded = await appWith({ ENCRYPTION_KEYS: KEY_A });
    for (const n of [1, 2]) {
      await seeded.container.models.Employee.create({
        _id: randomUUID(),
        name: `E${n}`,
        workEmail: `e${n}@cli-keys.example`,
        department: 'it',
        nationalId: `NID-CLI-${n}`,
      });
    }
    totpUserId = await createUser(seeded, 'totp@cli-keys.example');
    const setup = await seeded.container.deps.identity.twoFactor.setupTotp(
      (await seeded.container.models.User.findById(totpUserId).lean())!,
    );
    totpSecret = setup.secret;
    const code = execFileSync('oathtool', ['--totp', '-b', totpSecret], { encoding: 'utf8' }).trim();
    await seeded.container.deps.identity.twoFactor.enableTotp(
      (await seeded.container.models.User.findById(totpUserId).lean())!,
      code,
    );
    await seeded.container.stop();

    const usage = await cli({ ENCRYPTION_KEYS: KEY_A }, 'keys:usage');
    expect(usage.code).toBe(0);
    // Two employees and the user whose TOTP secret the 2FA service encrypted.
    expect(JSON.parse(usage.out)).toEqual({ kA: 3 });
    const active = await cli({ ENCRYPTION_KEYS: KEY_A }, 'keys:check-retire', '--key', 'kA');
    expect(active.code).not.toBe(0);
    expect(active.err).toMatch(/kA is the active key/);
    expect(active.out).not.toMatch(/can be removed/);
  }, 180_000);

  it('when key B is added but nothing rotated yet, then check-retire of A exits non-zero saying how much A still encrypts', async () => {
    const usage = await cli(ringAB, 'keys:usage');
    expect(JSON.parse(usage.out)).toEqual({ kA: 3, kB: 0 });
    const refused = await cli(ringAB, 'keys:check-retire', '--key', 'kA');
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/kA still encrypts 3 documents; rotate first/);
    expect(refused.out).not.toMatch(/can be removed/);
    const typo = await cli(ringAB, 'keys:check-retire', '--key', 'kX');
    expect(typo.code).toBe(1);
    expect(typo.err).toMatch(/key kX is not in ENCRYPTION_KEYS \(kA, kB\)/);
    const noKey = await cli(ringAB, 'keys:check-retire');
    expect(noKey.code).not.toBe(0);
    expect(noKey.err).toMatch(/--key <id> is required/);
  }, 180_000);

  it('when an admin rotates to B over HTTP, then check-retire of A exits 0, usage is all B, and with A removed the TOTP user still signs in', async () => {
    const both = await appWith(ringAB);
    const adminId = await createUser(both, 'root@cli-keys.example', 'admin', 'it');
    const admin = await mfaSession(both, adminId);
    expect(
      (
        await request(both.app)
          .post('/api/v1/encryption/rotation')
          .set(...bearer(admin))
      ).status,
    ).toBe(202);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = await request(both.app)
        .get('/api/v1/encryption/rotation')
        .set(...bearer(admin));
      if (s.body.rotation?.status === 'finished' && s.body.rotation?.targetKeyId === 'kB' && !s.body.runningHere) break;
      if (Date.now() > deadline) throw new Error(`rotation did not finish: ${JSON.stringify(s.body)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await both.container.stop();

    const ok = await cli(ringAB, 'keys:check-retire', '--key', 'kA');
    expect(ok.err).not.toMatch(/still encrypts|active key|error/i);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/key kA encrypts no stored data: it can be removed from ENCRYPTION_KEYS/);
    const usage = await cli(ringAB, 'keys:usage');
    expect(JSON.parse(usage.out)).toEqual({ kA: 0, kB: 3 });

    const onlyB = await appWith({ ENCRYPTION_KEYS: KEY_B });
    // The next 30 s step: the current one may be the step that enabled TOTP (replays are refused).
    const code = execFileSync(
      'oathtool',
      ['--totp', '-b', totpSecret, '--now', `@${Math.floor(Date.now() / 1000) + 30}`],
      { encoding: 'utf8' },
    ).trim();
    const user = (await onlyB.container.models.User.findById(totpUserId).lean())!;
    await expect(onlyB.container.deps.identity.twoFactor.verifyTotpForUser(user, code)).resolves.toBe(true);
    const stored = JSON.stringify(await onlyB.container.database.db().collection('employees').find().toArray());
    expect(stored).not.toMatch(/v1\.kA\.|NID-CLI-/);
  }, 180_000);
});
