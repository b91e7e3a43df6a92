import type { Request, RequestHandler, Response } from 'express';
import { AppError } from '../lib/errors';
import { setAuth } from '../lib/auth-context';
import { currentRequestContext } from '../lib/request-context';
import type { RequestBearer } from '../services/auth/request-bearer';
import type { ApiKeyService } from '../services/api-keys/api-key.service';
import type { UserModel } from '../models/user.model';
import type { SecurityEvents } from '../services/auth/security-events';

export interface AuthenticateDeps {
  /** Bearer tokens, verified once per request (the rate limiter may have done it already). */
  bearer: RequestBearer;
  apiKeys: ApiKeyService;
  users: UserModel;
  /** The API-key rate-limit tier, run once a key is verified (keyed by the key). */
  apiKeyLimiter?: RequestHandler;
  /** Refused credentials are reported here (audited, throttled per address). */
  securityEvents?: SecurityEvents;
}

interface Options {
  allowEnrollmentOnly?: boolean;
}

/** Puts the caller of a bearer token or API key on res.locals, or throws (401 for a refused credential). */
async function establish(deps: AuthenticateDeps, opts: Options, req: Request, res: Response): Promise<void> {
  const header = req.get('authorization');
  const apiKey = req.get('x-api-key');
  if (header) {
    const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header);
    if (!m) throw AppError.unauthorized('The Authorization header must be "Bearer <token>".', 'invalid-token');
    const claims = await deps.bearer.claims(req, m[1]);
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
  } else {
    throw AppError.unauthorized();
  }
}

/**
 * Establishes the caller from `Authorization: Bearer <access token>` or `X-API-Key`, and
 * puts an AuthContext on res.locals. Anonymous requests get 401. Sessions that must first
 * enroll a second factor are refused everywhere except where `allowEnrollmentOnly` is set.
 * A refused credential (forged, expired or revoked token, unknown key) is a security event.
 */
export function authenticator(deps: AuthenticateDeps) {
  return function authenticate(opts: Options = {}): AuthenticatingHandler {
    const mw: RequestHandler = async (req, res, next) => {
      res.setHeader('Cache-Control', 'no-store');
      const header = req.get('authorization');
      const apiKey = req.get('x-api-key');
      if (header && apiKey) throw AppError.badRequest('Send either a bearer token or an API key, not both.');
      try {
        await establish(deps, opts, req, res);
      } catch (err) {
        if (err instanceof AppError && err.status === 401 && (header || apiKey))
          await deps.securityEvents?.authDenied({
            reason: err.code,
            credential: header ? 'bearer' : 'api-key',
            ip: req.ip ?? null,
            method: req.method,
            path: req.originalUrl.split('?')[0],
          });
        throw err;
      }
      if (res.headersSent) return;
      const ctx = currentRequestContext();
      if (ctx) {
        ctx.userId = res.locals.auth.userId as string;
        ctx.userRole = res.locals.auth.role as string;
      }
      next();
    };
    // Marked so the OpenAPI generator can tell which routes need a credential.
    return Object.assign(mw, { authenticates: true as const });
  };
}

export interface AuthenticatingHandler extends RequestHandler {
  authenticates: true;
}

export type Authenticate = ReturnType<typeof authenticator>;
