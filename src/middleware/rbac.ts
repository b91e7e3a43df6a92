import type { RequestHandler, Response } from 'express';
import { AppError } from '../lib/errors';
import { requireAuth, type AuthContext } from '../lib/auth-context';
import { BASE_ROLES, ROLE_GRANTS, ROLE_PARENT, parsePermission, type BaseRole, type Possession } from '../services/access/policy';

/** Every grant of a role, its own and inherited, computed from the policy file. */
export function effectiveGrants(role: string): Set<string> {
  const grants = new Set<string>();
  let current: BaseRole | null = (BASE_ROLES as readonly string[]).includes(role) ? (role as BaseRole) : null;
  while (current) {
    for (const g of ROLE_GRANTS[current]) grants.add(g);
    current = ROLE_PARENT[current];
  }
  return grants;
}

/**
 * The widest possession of `resource:action` the caller holds (`any` beats `own`), or
 * null. API keys are further limited to their scopes.
 */
export function grantedPossession(auth: AuthContext, permission: string): Possession | null {
  const { resource, action, possession } = parsePermission(permission);
  const grants = effectiveGrants(auth.role);
  const allowed = (p: Possession): boolean => {
    const name = `${resource}:${action}:${p}`;
    if (!grants.has(name)) return false;
    return auth.kind !== 'apiKey' || (auth.scopes ?? []).includes(name);
  };
  if (possession) return allowed(possession) || (possession === 'own' && allowed('any')) ? possession : null;
  if (allowed('any')) return 'any';
  if (allowed('own')) return 'own';
  return null;
}

/** The possession authorize() granted for this request, for the service layer's ownership checks. */
export function grantedScope(res: Response): Possession {
  const p = res.locals.grantedPossession as Possession | undefined;
  if (!p) throw new Error('grantedScope() called on a route without authorize()');
  return p;
}

/** Requires the caller to hold `permission` (`resource:action` or `resource:action:own|any`). */
export function authorize(permission: string): RequestHandler {
  parsePermission(permission); // fail at boot on a malformed name, not per request
  return (_req, res, next) => {
    const auth = requireAuth(res);
    const possession = grantedPossession(auth, permission);
    if (!possession) throw AppError.forbidden(`Missing permission ${permission}.`);
    res.locals.grantedPossession = possession;
    next();
  };
}
