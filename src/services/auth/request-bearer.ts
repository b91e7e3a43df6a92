import type { Request } from 'express';
import type { AccessClaims, TokenService } from './token.service';

/**
 * Verifies a request's bearer token once per request. The general rate limiter (to key by
 * user) and the authenticator (to establish the caller) both need the same answer; before,
 * each verified the token and read the session's state from Redis again.
 */
export class RequestBearer {
  private readonly verified = new WeakMap<Request, { token: string; claims: Promise<AccessClaims> }>();

  constructor(private readonly tokens: TokenService) {}

  /** The verified claims of `token` sent with `req` (rejects with the 401/503 TokenService gives). */
  claims(req: Request, token: string): Promise<AccessClaims> {
    const hit = this.verified.get(req);
    if (hit && hit.token === token) return hit.claims;
    const claims = this.tokens.verifyAccess(token);
    // A rejection is handled by whoever awaits it; this keeps the stored copy from counting as unhandled.
    claims.catch(() => undefined);
    this.verified.set(req, { token, claims });
    return claims;
  }

  /**
   * The user of a fully verified access token in `authorizationHeader` (signature, lifetime and
   * session), or undefined: rate-limit keys may only name a user who is really calling.
   */
  async subject(req: Request, authorizationHeader: string): Promise<string | undefined> {
    const m = /^Bearer (\S+)$/.exec(authorizationHeader);
    if (!m) return undefined;
    try {
      return (await this.claims(req, m[1])).sub;
    } catch {
      return undefined;
    }
  }
}
