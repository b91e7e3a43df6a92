import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { createLogger } from '../../../src/lib/logger';
import { createRedis, waitForRedis, type RedisClient } from '../../../src/lib/redis';
import { TokenService, type TokenServiceDeps } from '../../../src/services/auth/token.service';

type JwtKeyConfig = TokenServiceDeps['key'];
import { testNamespace, testRedisUrl } from '../../support/env';
import { revocationOver } from '../../support/revocation';

const b64url = (v: string | Buffer): string => Buffer.from(v).toString('base64url');
/** Hand-made HS256 token, so nothing in jsonwebtoken stops us from forging what an attacker would. */
function hs256(
  payload: Record<string, unknown>,
  key: string | Buffer,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
): string {
  const body = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

describe('TokenService under HS256 and ES256: forgeries, expiry, mfaTokens, revocation', () => {
  let redis: RedisClient;
  let clock = new Date('2026-03-01T10:00:00Z');
  const now = (): Date => clock;
  const ec = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const setups: Array<[string, JwtKeyConfig]> = [
    ['HS256', { algorithm: 'HS256', secret: randomBytes(32) }],
    ['ES256', { algorithm: 'ES256', privateKeyPem: ec.privateKey, publicKeyPem: ec.publicKey }],
  ];
  const claims = { sub: 'u1', sid: 's1', role: 'user', dept: null, mfa: false, enroll: false };

  beforeAll(async () => {
    redis = createRedis(
      { url: testRedisUrl(), logger: createLogger({ level: 'silent' }) },
      { keyPrefix: testNamespace(__filename).redisPrefix },
    );
    expect(await waitForRedis(redis, 5_000)).toBe(true);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${redis.options.keyPrefix ?? ''}*`);
    if (keys.length) await redis.del(...keys.map((k) => k.slice((redis.options.keyPrefix ?? '').length)));
    redis.disconnect();
  });

  const service = (keys: JwtKeyConfig) =>
    new TokenService({
      key: keys,
      issuer: 'erp-backend',
      audience: 'erp-api',
      accessTtlSeconds: 900,
      redis,
      revocation: revocationOver(redis, { s1: { userId: 'u1', ended: false } }),
      now,
    });

  describe.each(setups)('with %s', (alg, keys) => {
    it('when a token is signed, then it verifies with its claims and names only this algorithm', async () => {
      clock = new Date('2026-03-01T10:00:00Z');
      const tokens = service(keys);
      const token = tokens.signAccess(claims);
      expect(jwt.decode(token, { complete: true })?.header.alg).toBe(alg);
      expect(jwt.decode(token)).toMatchObject({
        iss: 'erp-backend',
        aud: 'erp-api',
        sub: 'u1',
        sid: 's1',
        iat: clock.getTime() / 1000,
        exp: clock.getTime() / 1000 + 900,
      });
      expect(await tokens.verifyAccess(token)).toEqual(claims);
    });

    it('when alg none, a wrong key, another audience or issuer, or an expired token is presented, then it is refused', async () => {
      clock = new Date('2026-03-01T10:00:00Z');
      const tokens = service(keys);
      const good = jwt.decode(tokens.signAccess(claims)) as Record<string, unknown>;
      const forged = [
        `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(good))}.`,
        hs256(good, randomBytes(32)),
        keys.algorithm === 'HS256' ? hs256({ ...good, aud: 'other-api' }, keys.secret) : hs256(good, ec.publicKey),
        keys.algorithm === 'HS256'
          ? hs256({ ...good, iss: 'someone' }, keys.secret)
          : hs256(good, ec.publicKey, { alg: 'HS256' }),
      ];
      for (const token of forged) await expect(tokens.verifyAccess(token)).rejects.toMatchObject({ status: 401 });
      const token = tokens.signAccess(claims);
      clock = new Date(clock.getTime() + 906_000);
      await expect(tokens.verifyAccess(token)).rejects.toMatchObject({ status: 401 });
    });

    it('when an mfaToken is shown as an access token (or the reverse), then it is refused; it can be spent once', async () => {
      clock = new Date('2026-03-01T10:00:00Z');
      const tokens = service(keys);
      const mfa = tokens.signMfa({ sub: 'u1', methods: ['totp'] });
      await expect(tokens.verifyAccess(mfa)).rejects.toMatchObject({ status: 401 });
      expect(() => tokens.verifyMfa(tokens.signAccess(claims))).toThrow();
      const { jti } = tokens.verifyMfa(mfa);
      expect(await tokens.consumeMfa(jti)).toBe(true);
      expect(await tokens.consumeMfa(jti)).toBe(false);
      expect(await tokens.isMfaSpent(jti)).toBe(true);
      clock = new Date(clock.getTime() + 306_000);
      expect(() => tokens.verifyMfa(mfa)).toThrow();
    });
  });

  it('when a session is revoked, then its still-unexpired access token is refused', async () => {
    clock = new Date('2026-03-01T10:00:00Z');
    const tokens = service(setups[0][1]);
    const token = tokens.signAccess(claims);
    await tokens.revokeSessions(['s1']);
    await expect(tokens.verifyAccess(token)).rejects.toMatchObject({ status: 401, code: 'session-revoked' });
  });
});
