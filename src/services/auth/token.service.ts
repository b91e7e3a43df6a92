import { createPrivateKey, createPublicKey, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import jwt, { type JwtPayload } from 'jsonwebtoken';
import { AppError } from '../../lib/errors';
import type { RedisClient } from '../../lib/redis';
import type { SessionRevocation } from './session-revocation';

export interface AccessClaims {
  sub: string;
  sid: string;
  role: string;
  dept: string | null;
  mfa: boolean;
  /** Enrollment-only session: 2FA is required and not yet set up. */
  enroll: boolean;
}

export interface MfaClaims {
  sub: string;
  /** Factors the user may answer with. */
  methods: string[];
  /** This login attempt: second-factor lockouts are counted per attempt. */
  jti: string;
}

export type JwtKeyConfig =
  { algorithm: 'HS256'; secret: Buffer } | { algorithm: 'ES256'; privateKeyPem: string; publicKeyPem: string };

export interface TokenServiceDeps {
  /** Turned into KeyObjects at construction and not kept: the service never holds raw key bytes. */
  key: JwtKeyConfig;
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  redis: RedisClient;
  /** Whether a token's session still stands (MongoDB, cached in Redis). */
  revocation: SessionRevocation;
  now?: () => Date;
}

const MFA_TTL_SECONDS = 300;
/** How far ahead of our clock a token's `iat` may be (another process's clock, slightly fast). */
export const MAX_CLOCK_SKEW_SECONDS = 60;
/** mfaTokens get their own audience: they can never pass as access tokens, and the reverse. */
const mfaAudience = (aud: string): string => `${aud}:mfa-challenge`;

/**
 * Signs and verifies JWTs with a prepared KeyObject (a raw string secret costs jsonwebtoken
 * far more per call), an allow-list of algorithms and every registered claim checked.
 * A token's lifetime (exp − iat) may not exceed what this service issues, whatever key
 * signed it. Revocation: the token's session must exist and not have ended (SessionRevocation).
 */
export class TokenService {
  private readonly signingKey: KeyObject;
  private readonly verifyingKey: KeyObject;
  /** Exactly one algorithm is accepted: no `none`, no HS/ES confusion. */
  private readonly algorithm: jwt.Algorithm;
  private readonly now: () => Date;

  private readonly deps: Omit<TokenServiceDeps, 'key'>;

  constructor({ key, ...deps }: TokenServiceDeps) {
    this.deps = deps;
    if (key.algorithm === 'HS256') {
      this.signingKey = this.verifyingKey = createSecretKey(key.secret);
    } else {
      this.signingKey = createPrivateKey(key.privateKeyPem);
      this.verifyingKey = createPublicKey(key.publicKeyPem);
    }
    this.algorithm = key.algorithm;
    this.now = deps.now ?? (() => new Date());
  }

  private nowSeconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  get accessTtlSeconds(): number {
    return this.deps.accessTtlSeconds;
  }

  signAccess(claims: AccessClaims): string {
    const { sub, ...rest } = claims;
    return jwt.sign({ ...rest, typ: 'access', iat: this.nowSeconds() }, this.signingKey, {
      algorithm: this.algorithm,
      expiresIn: this.deps.accessTtlSeconds,
      issuer: this.deps.issuer,
      audience: this.deps.audience,
      subject: sub,
      jwtid: randomUUID(),
    });
  }

  signMfa(claims: Omit<MfaClaims, 'jti'>): string {
    return jwt.sign({ methods: claims.methods, typ: 'mfa', iat: this.nowSeconds() }, this.signingKey, {
      algorithm: this.algorithm,
      expiresIn: MFA_TTL_SECONDS,
      issuer: this.deps.issuer,
      audience: mfaAudience(this.deps.audience),
      subject: claims.sub,
      jwtid: randomUUID(),
    });
  }

  /**
   * Verified access-token payloads by token string. The rate limiter and the authenticator
   * both need the claims of the same token; expiry is re-checked on every hit, revocation
   * is never cached.
   */
  private readonly verified = new Map<string, JwtPayload>();
  private static readonly CACHE_MAX = 10_000;

  private verify(token: string, audience: string, typ: string): JwtPayload {
    const cacheable = typ === 'access' && audience === this.deps.audience;
    const hit = cacheable ? this.verified.get(token) : undefined;
    if (hit && typeof hit.exp === 'number' && hit.exp > this.nowSeconds()) return hit;
    const payload = this.verifyUncached(token, audience, typ);
    if (cacheable) {
      if (this.verified.size >= TokenService.CACHE_MAX)
        this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(token, payload);
    }
    return payload;
  }

  private verifyUncached(token: string, audience: string, typ: string): JwtPayload {
    let payload: JwtPayload;
    try {
      const decoded = jwt.verify(token, this.verifyingKey, {
        algorithms: [this.algorithm],
        issuer: this.deps.issuer,
        audience,
        clockTimestamp: this.nowSeconds(),
        clockTolerance: 5,
      });
      if (typeof decoded === 'string') throw new Error('unexpected payload');
      payload = decoded;
    } catch {
      throw AppError.unauthorized('The token is invalid or expired.', 'invalid-token');
    }
    if (
      payload.typ !== typ ||
      typeof payload.sub !== 'string' ||
      typeof payload.jti !== 'string' ||
      typeof payload.iat !== 'number' ||
      typeof payload.exp !== 'number' ||
      // A validly signed token with a years-long `exp` (a leaked key, a misconfigured issuer) is refused.
      payload.exp - payload.iat > (typ === 'access' ? this.deps.accessTtlSeconds : MFA_TTL_SECONDS) ||
      payload.iat > this.nowSeconds() + MAX_CLOCK_SKEW_SECONDS
    ) {
      throw AppError.unauthorized('The token is invalid or expired.', 'invalid-token');
    }
    return payload;
  }

  /**
   * The claims of a valid access token of a live session. Role and department come from the
   * session's current facts (read with the revocation check, one Redis read when cached), not
   * from the token, so a role change applies to tokens already issued. The 2FA state may only
   * narrow: a token signed before its session passed a second factor stays without it (the
   * client gets a new token for that), and one whose session or user lost it loses it at once.
   */
  async verifyAccess(token: string): Promise<AccessClaims> {
    const p = this.verify(token, this.deps.audience, 'access');
    if (typeof p.sid !== 'string' || typeof p.role !== 'string' || typeof p.mfa !== 'boolean') {
      throw AppError.unauthorized('The token is invalid or expired.', 'invalid-token');
    }
    const facts = await this.deps.revocation.liveFacts(p.sid, p.sub as string);
    return {
      sub: p.sub as string,
      sid: p.sid,
      role: facts.role,
      dept: facts.department,
      mfa: p.mfa && facts.mfa,
      enroll: p.enroll === true || facts.enroll,
    };
  }

  verifyMfa(token: string): MfaClaims {
    const p = this.verify(token, mfaAudience(this.deps.audience), 'mfa');
    return {
      sub: p.sub as string,
      methods: Array.isArray(p.methods) ? p.methods.map(String) : [],
      jti: p.jti as string,
    };
  }

  /**
   * Marks an mfaToken as spent after a successful second step, so a captured one cannot
   * open a second session. False when it was already spent (a concurrent or replayed use).
   */
  async consumeMfa(jti: string): Promise<boolean> {
    return (await this.deps.redis.set(`mfa:spent:${jti}`, '1', 'EX', MFA_TTL_SECONDS + 60, 'NX')) === 'OK';
  }

  async isMfaSpent(jti: string): Promise<boolean> {
    return (await this.deps.redis.exists(`mfa:spent:${jti}`)) === 1;
  }

  /** Call once the session's end is stored in MongoDB: its access tokens are refused at once, in every process. */
  async revokeSessions(sids: string[]): Promise<void> {
    await this.deps.revocation.revoked(sids);
  }

  /** Call once a session's facts (role, department, 2FA state) changed in MongoDB: its next request reads them again. */
  async sessionsChanged(sids: string[]): Promise<void> {
    await this.deps.revocation.changed(sids);
  }
}
