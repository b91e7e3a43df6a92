import type { RequestHandler, Response } from 'express';
import { AppError } from '../lib/errors';
import { requireAuth } from '../lib/auth-context';
import { parsePermission } from '../services/access/policy';
import { mfaRequired, type AccessPolicy, type GrantedAccess } from '../services/access/access-policy';
import type { AuditTrail } from '../services/audit/audit-trail';

export type Authorize = (permission: string) => RequestHandler;

/** Marks the middleware so the route table test can read which permission a route needs. */
export interface AuthorizeMiddleware extends RequestHandler {
  permission: string;
}

/** What authorize() decided for this request (possession, record scope, 2FA): routes hand it to services. */
export function grantedAccess(res: Response): GrantedAccess {
  const decision = res.locals.access as GrantedAccess | undefined;
  if (!decision) throw new Error('grantedAccess() called on a route without authorize()');
  return decision;
}

/**
 * authorize(permission): asks the access policy whether the caller may use `permission`
 * (either possession unless one is named), refuses with 403 (audited) when not, and puts
 * the decision on res.locals for the route (grantedAccess).
 */
export function createAuthorize(deps: { policy: AccessPolicy; audit: AuditTrail }): Authorize {
  return (permission: string): RequestHandler => {
    const { resource } = parsePermission(permission); // a malformed name fails at boot, not per request
    const mw = (async (req, res, next) => {
      const auth = requireAuth(res);
      const decision = await deps.policy.decide(auth, permission);
      if (!decision.allowed) {
        await deps.audit.record({
          action: 'access.denied',
          outcome: 'denied',
          actorId: auth.userId,
          actorRole: auth.role,
          resource,
          details: { permission, reason: decision.reason, method: req.method, path: req.baseUrl + req.path },
        });
        throw decision.reason === 'mfa-required'
          ? mfaRequired()
          : AppError.forbidden(`Missing permission ${permission}.`);
      }
      res.locals.access = decision;
      next();
    }) as AuthorizeMiddleware;
    mw.permission = permission;
    return mw;
  };
}
