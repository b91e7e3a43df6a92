import { randomBytes } from 'node:crypto';
import { configProblems } from '../support/config';
import { runTs } from '../support/process';
import { leakedIn } from '../support/secrets';

const key32 = (): string => randomBytes(32).toString('base64');
const b64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64');

const strongProduction = (): Record<string, string> => ({
  NODE_ENV: 'production',
  MONGODB_URI: 'mongodb://db.internal:27017/erp?replicaSet=rs0',
  REDIS_URL: 'redis://cache.internal:6379',
  JWT_SECRET: randomBytes(32).toString('hex'),
  ENCRYPTION_KEYS: `k1:${key32()},k2:${key32()}`,
  BLIND_INDEX_KEY: key32(),
  AUDIT_HMAC_KEYS: `a1:${key32()}`,
  PASSWORD_PEPPER: randomBytes(32).toString('base64'),
  TRUST_PROXY: '1',
  SMTP_URL: 'smtps://mailer:secret@mail.internal:465',
});

/** The one problem reported, checked to name the variable and to carry none of the secret. */
function onlyProblem(env: Record<string, string>, name: string, secret: string): string {
  const problems = configProblems(env);
  expect(problems).toHaveLength(1);
  expect(problems[0].startsWith(`${name}:`)).toBe(true);
  expect(leakedIn(problems[0], { secret })).toEqual([]);
  return problems[0];
}

describe('production key material strength', () => {
  it('when production has independently generated random keys (hex, base64, base64url), then config accepts them', () => {
    expect(configProblems(strongProduction())).toEqual([]);
    for (let i = 0; i < 20; i++) {
      expect(
        configProblems({
          ...strongProduction(),
          JWT_SECRET: randomBytes(48).toString(i % 2 ? 'base64' : 'base64url'),
          PASSWORD_PEPPER: randomBytes(16).toString('hex'),
        }),
      ).toEqual([]);
    }
  });

  it('when a text secret is long enough but one repeated character or a placeholder phrase, then it is refused naming the variable', () => {
    for (const [name, value] of [
      ['JWT_SECRET', 'a'.repeat(32)],
      ['JWT_SECRET', 'changeme-changeme-changeme-changeme'],
      ['JWT_SECRET', 'my-super-secret-jwt-key-for-production'],
      ['JWT_SECRET', '0123456789abcdef0123456789abcdef0123456789abcdef'],
      ['PASSWORD_PEPPER', 'abcdefghijklmnopqrstuvwxyz0123456789'],
      ['PASSWORD_PEPPER', 'Password1Password1Password1Password1'],
      ['PASSWORD_PEPPER', 'Summer2024!Summer2024!Summer2024!Summer2024!'],
    ] as const) {
      expect(onlyProblem({ ...strongProduction(), [name]: value }, name, value)).toMatch(/random/);
    }
  });

  it('when an encryption or blind-index key decodes to 32 weak bytes (all zero, one byte repeated, a counting sequence, typed text), then it is refused', () => {
    const weak = [
      Buffer.alloc(32),
      Buffer.alloc(32, 0x61),
      Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
      Buffer.from('this is my encryption key 123456'),
    ];
    for (const bytes of weak) {
      const value = b64(bytes);
      expect(
        onlyProblem({ ...strongProduction(), ENCRYPTION_KEYS: `k1:${key32()},k2:${value}` }, 'ENCRYPTION_KEYS', value),
      ).toMatch(/key "k2"/);
      expect(onlyProblem({ ...strongProduction(), BLIND_INDEX_KEY: value }, 'BLIND_INDEX_KEY', value)).toMatch(
        /random/,
      );
    }
  });

  it('when two variables share key material, then the later one is refused naming both variables but no value', () => {
    const shared = key32();
    expect(
      onlyProblem(
        { ...strongProduction(), ENCRYPTION_KEYS: `k1:${shared}`, BLIND_INDEX_KEY: shared },
        'BLIND_INDEX_KEY',
        shared,
      ),
    ).toMatch(/ENCRYPTION_KEYS key "k1"/);
    // The audit chain's HMAC key is key material like the others: reusing an encryption key is refused.
    const reused = onlyProblem(
      { ...strongProduction(), ENCRYPTION_KEYS: `k1:${shared}`, AUDIT_HMAC_KEYS: `a1:${shared}` },
      'AUDIT_HMAC_KEYS',
      shared,
    );
    expect(reused).toMatch(/ENCRYPTION_KEYS key "k1"/);
    expect(
      onlyProblem(
        { ...strongProduction(), ENCRYPTION_KEYS: `k1:${key32()},k2:${shared},k3:${shared}` },
        'ENCRYPTION_KEYS',
        shared,
      ),
    ).toMatch(/key "k3".*key "k2"/);
    // The same text as JWT secret and pepper, and a base64 key whose text is reused as the JWT secret.
    const text = randomBytes(32).toString('base64');
    expect(
      onlyProblem({ ...strongProduction(), JWT_SECRET: text, PASSWORD_PEPPER: text }, 'PASSWORD_PEPPER', text),
    ).toMatch(/JWT_SECRET/);
    expect(
      onlyProblem({ ...strongProduction(), JWT_SECRET: text, BLIND_INDEX_KEY: text }, 'BLIND_INDEX_KEY', text),
    ).toMatch(/JWT_SECRET/);
  });

  it('when outside production, then weak or shared keys are still accepted (tests and local runs use fixed ones)', () => {
    const shared = b64(Buffer.alloc(32));
    expect(
      configProblems({ NODE_ENV: 'development', ENCRYPTION_KEYS: `k1:${shared}`, BLIND_INDEX_KEY: shared }),
    ).toEqual([]);
  });

  it('when the server starts in production with a weak key, then it exits 1 with one line naming the variable and not its value', async () => {
    const zero = b64(Buffer.alloc(32));
    const proc = runTs('src/server.ts', { ...strongProduction(), BLIND_INDEX_KEY: zero });
    expect(await proc.exited).toBe(1);
    const lines = proc.stderr().trim().split('\n');
    expect(lines).toEqual([expect.stringMatching(/^config error: BLIND_INDEX_KEY: /)]);
    expect(proc.stderr()).not.toContain(zero);
  }, 30_000);
});
