import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import Redis from 'ioredis';
import { TokenService } from '../../../src/services/auth/token.service';
import { loadConfig } from '../../../src/config';
import { configProblems } from '../../support/config';
import { testNamespace, testRedisUrl } from '../../support/env';
import { revocationOver } from '../../support/revocation';

const pair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
};

describe('TokenService with ES256', () => {
  const ns = testNamespace(__filename);
  const redis = new Redis(testRedisUrl(), { keyPrefix: ns.redisPrefix });
  afterAll(() => redis.quit());
  const keys = pair();
  const svc = new TokenService({
    key: { algorithm: 'ES256', ...keys },
    issuer: 'erp',
    audience: 'erp-api',
    accessTtlSeconds: 900,
    redis,
    revocation: revocationOver(redis, { s1: { userId: 'u1', ended: false } }),
  });
  const claims = { sub: 'u1', sid: 's1', role: 'user', dept: null, mfa: false, enroll: false };

  it('when signed with the private key, then it verifies with the public key and carries every claim', async () => {
    const token = svc.signAccess(claims);
    expect(jwt.decode(token, { complete: true })?.header.alg).toBe('ES256');
    await expect(svc.verifyAccess(token)).resolves.toEqual(claims);
  });

  it('when an attacker signs HS256 with the public key as the secret (algorithm confusion) or uses alg none, then it is refused', async () => {
    const body = {
      ...claims,
      typ: 'access',
      iss: 'erp',
      aud: 'erp-api',
      exp: Math.floor(Date.now() / 1000) + 600,
      iat: Math.floor(Date.now() / 1000),
      jti: 'x',
    };
    const confused = jwt.sign(body, keys.publicKeyPem, { algorithm: 'HS256' });
    const none = jwt.sign(body, '', { algorithm: 'none' });
    const otherKey = jwt.sign(body, pair().privateKeyPem, { algorithm: 'ES256' });
    for (const t of [confused, none, otherKey])
      await expect(svc.verifyAccess(t)).rejects.toMatchObject({ status: 401 });
  });

  it('when config asks for ES256, then keys are required, must be P-256 and must match', () => {
    const problems = configProblems;
    expect(problems({ JWT_ALGORITHM: 'ES256' })).toEqual([expect.stringMatching(/both are required/)]);
    expect(
      problems({ JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: keys.privateKeyPem, JWT_PUBLIC_KEY: pair().publicKeyPem }),
    ).toEqual([expect.stringMatching(/does not match/)]);
    const cfg = loadConfig({
      JWT_ALGORITHM: 'ES256',
      JWT_PRIVATE_KEY: keys.privateKeyPem.replace(/\n/g, '\\n'),
      JWT_PUBLIC_KEY: keys.publicKeyPem,
    });
    expect(cfg.jwt.algorithm).toBe('ES256');
    expect(cfg.devDefaultsUsed).not.toContain('JWT_SECRET');
  });
});
