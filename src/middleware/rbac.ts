import type { RequestHandler, Response } from 'express';
import { AppError } from '../lib/errors';
import { requireAuth, type AuthContext } from '../lib/auth-context';
import { isAdminOnly, parsePermission, type Possession } from '../services/access/policy';
import type { RoleService } from '../services/access/role.service';
import type { AuditTrail } from '../services/audit/audit-trail';

/** The widest possession of `resource:action` the grants allow (`any` beats `own`), or null. API keys are limited to their scopes. */
export function possessionIn(
  grants: Set<string>,
  auth: Pick<AuthContext, 'kind' | 'scopes'>,
  permission: string,
): Possession | null {
  const { resource, action, possession } = parsePermission(permission);
  const allowed = (p: Possession): boolean => {
    const name = `${resource}:${action}:${p}`;
    return grants.has(name) && (auth.kind !== 'apiKey' || (auth.scopes ?? []).includes(name));
  };
  if (possession === 'any') return allowed('any') ? 'any' : null;
  if (allowed('any')) return 'any';
  if (allowed('own')) return 'own';
  return null;
}

/** The possession authorize() granted for this request, for the service layer's scope checks. */
export function grantedScope(res: Response): Possession {
  const p = res.locals.grantedPossession as Possession | undefined;
  if (!p) throw new Error('grantedScope() called on a route without authorize()');
  return p;
}

export type Authorize = ((permission: string) => RequestHandler) & { grantsOf: (role: string) => Promise<Set<string>> };

/** Marks the middleware so the route table test can read which permission a route needs. */
export interface AuthorizeMiddleware extends RequestHandler {
  permission: string;
}

/** The 2FA answer every administrative refusal gives. */
export const mfaRequired = (): AppError =>
  new AppError({
    code: 'mfa-required',
    status: 403,
    title: 'Two-Factor Session Required',
    detail: 'This administrative action requires a session that passed two-factor authentication.',
  });

/**
 * Whether exercising `permission` with `possession` needs a 2FA session: permissions only
 * admins hold, and any `any` possession (reach over every record, e.g. every employee's
 * bank account), which no base role below admin has.
 */
export const needsSecondFactor = (permission: string, possession: Possession): boolean =>
  isAdminOnly(permission) || possession === 'any';

/**
 * authorize(permission): the caller must hold the permission (with either possession
 * unless one is named). Admin-only permissions and `any` reach need a session that
 * passed 2FA; an API key carries that reach only if it was created from such a session
 * (see the API-key routes). Every denial is audited.
 */
export function createAuthorize(deps: { roles: RoleService; audit: AuditTrail }): Authorize {
  const authorize = (permission: string): RequestHandler => {
    parsePermission(permission); // a malformed name fails at boot, not per request
    const mw = (async (req, res, next) => {
      const auth = requireAuth(res);
      const possession = possessionIn(await deps.roles.grantsOf(auth.role), auth, permission);
      const deny = async (reason: string, error: AppError): Promise<never> => {
        await deps.audit.record({
          action: 'access.denied',
          outcome: 'denied',
          actorId: auth.userId,
          actorRole: auth.role,
          resource: parsePermission(permission).resource,
          details: { permission, reason, method: req.method, path: req.baseUrl + req.path },
        });
        throw error;
      };
      if (!possession) await deny('missing-permission', AppError.forbidden(`Missing permission ${permission}.`));
      if (auth.kind === 'user' && needsSecondFactor(permission, possession as Possession) && !auth.mfa)
        await deny('mfa-required', mfaRequired());
      res.locals.grantedPossession = possession;
      next();
    }) as AuthorizeMiddleware;
    mw.permission = permission;
    return mw;
  };
  return Object.assign(authorize, { grantsOf: (role: string) => deps.roles.grantsOf(role) });
}
