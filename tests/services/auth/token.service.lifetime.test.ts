import { randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { createLogger } from '../../../src/lib/logger';
import { createRedis, waitForRedis, type RedisClient } from '../../../src/lib/redis';
import { MAX_CLOCK_SKEW_SECONDS, TokenService } from '../../../src/services/auth/token.service';
import { testNamespace, testRedisUrl } from '../../support/env';
import { revocationOver } from '../../support/revocation';
import type { Request } from 'express';
import { RequestBearer } from '../../../src/services/auth/request-bearer';

describe('TokenService: lifetime bounds of validly signed tokens', () => {
  let redis: RedisClient;
  const secret = randomBytes(32);
  const clock = new Date('2026-03-01T10:00:00Z');
  const nowS = clock.getTime() / 1000;
  let tokens: TokenService;

  beforeAll(async () => {
    redis = createRedis(
      { url: testRedisUrl(), logger: createLogger({ level: 'silent' }) },
      { keyPrefix: testNamespace(__filename).redisPrefix },
    );
    expect(await waitForRedis(redis, 5_000)).toBe(true);
    tokens = new TokenService({
      key: { algorithm: 'HS256', secret },
      issuer: 'erp-backend',
      audience: 'erp-api',
      accessTtlSeconds: 900,
      redis,
      revocation: revocationOver(redis, { s1: { userId: 'u1', ended: false } }),
      now: () => clock,
    });
  });
  afterAll(async () => {
    const prefix = redis.options.keyPrefix ?? '';
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    redis.disconnect();
  });

  /** Signed with the service's own key: only the claims are wrong. */
  const access = (iat: number, exp: number): string =>
    jwt.sign(
      {
        typ: 'access',
        sid: 's1',
        role: 'user',
        dept: null,
        mfa: false,
        iat,
        exp,
        iss: 'erp-backend',
        aud: 'erp-api',
        sub: 'u1',
        jti: randomBytes(8).toString('hex'),
      },
      secret,
      { algorithm: 'HS256' },
    );

  it('when a validly signed access token lives 10 years, then it is refused', async () => {
    const token = access(nowS, nowS + 10 * 365 * 86_400);
    await expect(tokens.verifyAccess(token)).rejects.toMatchObject({ status: 401, code: 'invalid-token' });
    // The rate limiter's key never names the user of a refused token.
    expect(await new RequestBearer(tokens).subject({} as Request, `Bearer ${token}`)).toBeUndefined();
  });

  it('when exp − iat is one second over the access TTL, then it is refused; exactly the TTL is accepted', async () => {
    await expect(tokens.verifyAccess(access(nowS - 10, nowS - 10 + 901))).rejects.toMatchObject({ status: 401 });
    await expect(tokens.verifyAccess(access(nowS - 10, nowS - 10 + 900))).resolves.toMatchObject({ sub: 'u1' });
  });

  it('when iat lies in the future beyond the allowed skew, then it is refused; within the skew it is accepted', async () => {
    const far = nowS + MAX_CLOCK_SKEW_SECONDS + 1;
    await expect(tokens.verifyAccess(access(far, far + 600))).rejects.toMatchObject({ status: 401 });
    const near = nowS + MAX_CLOCK_SKEW_SECONDS - 5;
    await expect(tokens.verifyAccess(access(near, near + 600))).resolves.toMatchObject({ sub: 'u1' });
  });

  it('when an mfaToken is signed with a lifetime longer than 5 minutes, then it is refused', () => {
    const mfa = jwt.sign(
      {
        typ: 'mfa',
        methods: ['totp'],
        iat: nowS,
        exp: nowS + 86_400,
        iss: 'erp-backend',
        aud: 'erp-api:mfa-challenge',
        sub: 'u1',
        jti: 'j1',
      },
      secret,
      { algorithm: 'HS256' },
    );
    expect(() => tokens.verifyMfa(mfa)).toThrow(expect.objectContaining({ status: 401 }));
    expect(tokens.verifyMfa(tokens.signMfa({ sub: 'u1', methods: ['totp'] }))).toMatchObject({ sub: 'u1' });
  });
});
