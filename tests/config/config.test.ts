import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config';
import { configProblems } from '../support/config';
import { runTs } from '../support/process';

const key32 = (): string => randomBytes(32).toString('base64');
const strongProduction = (): Record<string, string> => ({
  NODE_ENV: 'production',
  MONGODB_URI: 'mongodb://db.internal:27017/erp?replicaSet=rs0',
  REDIS_URL: 'redis://cache.internal:6379',
  JWT_SECRET: randomBytes(32).toString('hex'),
  ENCRYPTION_KEYS: `k1:${key32()},k2:${key32()}`,
  BLIND_INDEX_KEY: key32(),
  AUDIT_HMAC_KEYS: `a1:${key32()}`,
  TRUST_PROXY: '1',
  SMTP_URL: 'smtps://mailer:secret@mail.internal:465',
});

describe('config', () => {
  it('when nothing overrides them, then bcrypt cost is 12 and production requires 2FA for admins and managers', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).passwords.bcryptCost).toBe(12);
    expect(loadConfig(strongProduction()).passwords.bcryptCost).toBe(12);
    expect(loadConfig(strongProduction()).auth.mfaRequiredRoles).toEqual(['admin', 'manager']);
    expect(loadConfig({ NODE_ENV: 'development' }).auth.mfaRequiredRoles).toEqual([]);
    expect(configProblems({ ...strongProduction(), BCRYPT_COST: '9' }).join('\n')).toMatch(/BCRYPT_COST/);
  });

  it('when HSTS_ENABLED is not a boolean spelling, then config refuses it instead of silently turning HSTS off', () => {
    expect(configProblems({ ...strongProduction(), HSTS_ENABLED: 'on' }).join('\n')).toMatch(/HSTS_ENABLED/);
    expect(loadConfig({ ...strongProduction(), HSTS_ENABLED: 'no' }).edge.hsts).toBe(false);
    expect(loadConfig(strongProduction()).edge.hsts).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development' }).edge.hsts).toBe(false);
  });

  it('when production has every secret, then config parses, is frozen and picks the last key as active', () => {
    const config = loadConfig(strongProduction());
    expect(config.isProduction).toBe(true);
    expect(config.mongodb.minPoolSize).toBe(5);
    expect(config.mongodb.maxPoolSize).toBe(10);
    expect(config.http.trustProxy).toBe(1);
    expect(config.encryption.activeKeyId).toBe('k2');
    expect(config.devDefaultsUsed).toEqual([]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.mongodb)).toBe(true);
  });

  it('when production lacks secrets and servers, then one problem per variable is reported', () => {
    const problems = configProblems({ NODE_ENV: 'production' });
    for (const name of [
      'MONGODB_URI',
      'REDIS_URL',
      'JWT_SECRET',
      'ENCRYPTION_KEYS',
      'BLIND_INDEX_KEY',
      'AUDIT_HMAC_KEYS',
      'SMTP_URL',
    ]) {
      expect(problems.filter((p) => p.startsWith(name + ':'))).toHaveLength(1);
    }
  });

  it('when secrets are weak, then each is named with the length it needs', () => {
    const problems = configProblems({
      ...strongProduction(),
      JWT_SECRET: 'short',
      ENCRYPTION_KEYS: 'k1:' + randomBytes(16).toString('base64'),
      BLIND_INDEX_KEY: randomBytes(8).toString('base64'),
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^JWT_SECRET: must be at least 32 bytes/),
        expect.stringMatching(/^ENCRYPTION_KEYS: key "k1" must decode .* exactly 32 bytes/),
        expect.stringMatching(/^BLIND_INDEX_KEY: must be base64 of at least 32 bytes/),
      ]),
    );
  });

  it("when TRUST_PROXY is 'true', then it is refused", () => {
    expect(configProblems({ ...strongProduction(), TRUST_PROXY: 'true' })).toEqual([
      expect.stringMatching(/^TRUST_PROXY:/),
    ]);
  });

  it('when values have the wrong type, then zod names the variable', () => {
    expect(configProblems({ PORT: 'eighty', MONGODB_URI: 'http://x' })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^PORT:/), expect.stringMatching(/^MONGODB_URI:/)]),
    );
  });

  it('when development runs without secrets, then deterministic dev defaults are used and listed', () => {
    const a = loadConfig({ NODE_ENV: 'development' });
    const b = loadConfig({ NODE_ENV: 'development' });
    expect(a.devDefaultsUsed).toEqual(['JWT_SECRET', 'ENCRYPTION_KEYS', 'AUDIT_HMAC_KEYS', 'BLIND_INDEX_KEY']);
    if (a.jwt.algorithm !== 'HS256' || b.jwt.algorithm !== 'HS256') throw new Error('expected HS256');
    expect(a.jwt.secret.reveal().equals(b.jwt.secret.reveal())).toBe(true);
  });

  it('when the server starts with missing or weak production secrets, then it exits 1 naming each variable', async () => {
    const proc = runTs('src/server.ts', {
      NODE_ENV: 'production',
      JWT_SECRET: 'too-short',
      ENCRYPTION_KEYS: 'k1:AAAA',
    });
    const code = await proc.exited;
    expect(code).toBe(1);
    const lines = proc.stderr().trim().split('\n');
    for (const name of [
      'MONGODB_URI',
      'REDIS_URL',
      'JWT_SECRET',
      'ENCRYPTION_KEYS',
      'BLIND_INDEX_KEY',
      'AUDIT_HMAC_KEYS',
    ]) {
      expect(lines.filter((l) => l.startsWith(`config error: ${name}:`))).toHaveLength(1);
    }
    expect(proc.stderr()).not.toContain('too-short');
  }, 180_000);
});
