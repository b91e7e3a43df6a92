import type { RequestHandler } from 'express';
import { AppError } from '../lib/errors';
import { setAuth } from '../lib/auth-context';
import { currentRequestContext } from '../lib/request-context';
import type { TokenService } from '../services/auth/token.service';
import type { ApiKeyService } from '../services/api-keys/api-key.service';
import type { UserModel } from '../models/user.model';

export interface AuthenticateDeps {
  tokens: TokenService;
  apiKeys: ApiKeyService;
  users: UserModel;
  /** The API-key rate-limit tier, run once a key is verified (keyed by the key). */
  apiKeyLimiter?: RequestHandler;
}

/**
 * Establishes the caller from `Authorization: Bearer <access token>` or `X-API-Key`, and
 * puts an AuthContext on res.locals. Anonymous requests get 401. Sessions that must first
 * enroll a second factor are refused everywhere except where `allowEnrollmentOnly` is set.
 */
export function authenticator(deps: AuthenticateDeps) {
  return function authenticate(opts: { allowEnrollmentOnly?: boolean } = {}): RequestHandler {
    return async (req, res, next) => {
      res.setHeader('Cache-Control', 'no-store');
      const header = req.get('authorization');
      const apiKey = req.get('x-api-key');
      if (header && apiKey) throw AppError.badRequest('Send either a bearer token or an API key, not both.');
      if (header) {
        const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header);
        if (!m) throw AppError.unauthorized('The Authorization header must be "Bearer <token>".', 'invalid-token');
        const claims = await deps.tokens.verifyAccess(m[1]);
        if (claims.enroll && !opts.allowEnrollmentOnly) {
          throw new AppError({
            code: 'mfa-enrollment-required',
            status: 403,
            title: 'Two-Factor Enrollment Required',
            detail: 'Enroll a second factor before using the API.',
          });
        }
        setAuth(res, {
          kind: 'user',
          userId: claims.sub,
          role: claims.role,
          department: claims.dept,
          sessionId: claims.sid,
          mfa: claims.mfa,
          enrollmentOnly: claims.enroll,
        });
      } else if (apiKey) {
        const key = await deps.apiKeys.verify(apiKey);
        const owner = await deps.users.findById(key.ownerId, { role: 1, department: 1, status: 1 }).lean();
        if (!owner || owner.status !== 'active')
          throw AppError.unauthorized('The API key is invalid, expired or revoked.', 'invalid-api-key');
        setAuth(res, {
          kind: 'apiKey',
          userId: key.ownerId,
          role: owner.role,
          department: owner.department,
          mfa: false,
          enrollmentOnly: false,
          apiKeyId: key.id,
          scopes: key.scopes,
        });
        res.locals.apiKey = { id: key.id };
        const limiter = deps.apiKeyLimiter;
        if (limiter)
          await new Promise<void>(
            (resolve, reject) => void limiter(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
          );
        if (res.headersSent) return;
      } else {
        throw AppError.unauthorized();
      }
      const ctx = currentRequestContext();
      if (ctx) {
        ctx.userId = res.locals.auth.userId as string;
        ctx.userRole = res.locals.auth.role as string;
      }
      next();
    };
  };
}

export type Authenticate = ReturnType<typeof authenticator>;
