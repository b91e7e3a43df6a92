/**
 * THE role-permission map. Roles inherit every grant of the role below them:
 * admin > manager > user > guest. A permission is `resource:action:possession`:
 * `any` reaches every record; `own` reaches the caller's scope — for a user, records they
 * own (their employee record, invoices they created); for a manager, records of their
 * department (the record scope of AccessPolicy, access-policy.ts). Routes name permissions
 * (`authorize('invoice:approve')`), never roles. docs/ACCESS_CONTROL.md's table is
 * generated from this file (scripts/gen-permission-table.ts).
 */
export const BASE_ROLES = ['guest', 'user', 'manager', 'admin'] as const;
export type BaseRole = (typeof BASE_ROLES)[number];
export type Possession = 'own' | 'any';

/** Each role's parent: the role whose grants it inherits. */
export const ROLE_PARENT: Record<BaseRole, BaseRole | null> = {
  guest: null,
  user: 'guest',
  manager: 'user',
  admin: 'manager',
};

/** Grants added at each level (inherited grants are not repeated). */
export const ROLE_GRANTS: Record<BaseRole, readonly string[]> = {
  guest: ['profile:read:own'],
  user: [
    'profile:update:own',
    'apikey:create:own',
    'apikey:read:own',
    'apikey:revoke:own',
    'apikey:rotate:own',
    'employee:read:own',
    'employee:update:own',
    'invoice:read:own',
    'invoice:create:own',
    'invoice:update:own',
    'access:explain:own',
    'gdpr:export:own',
  ],
  // scope:department:own widens every `own` grant of the role to its whole department.
  manager: ['scope:department:own', 'invoice:approve:own', 'invoice:pay:own', 'employee:create:own'],
  admin: [
    'user:create:any',
    'user:read:any',
    'user:update:any',
    'user:mfa-reset:any',
    'role:manage:any',
    'audit:read:any',
    'audit:verify:any',
    'apikey:revoke:any',
    'apikey:rotate:any',
    'encryption:rotate:any',
    'encryption:read:any',
    'employee:read:any',
    'employee:create:any',
    'employee:update:any',
    'employee:delete:any',
    'invoice:read:any',
    'invoice:create:any',
    'invoice:update:any',
    'invoice:approve:any',
    'invoice:pay:any',
    'invoice:delete:any',
    'access:explain:any',
    'gdpr:export:any',
    'gdpr:erase:any',
    // Operations: alerts, backups and the detailed health view (anonymous callers get statuses only).
    'alert:read:any',
    'alert:manage:any',
    'backup:read:any',
    'backup:create:any',
    'backup:restore:any',
    'health:read:any',
    // The OpenAPI document in production (anyone may read it elsewhere).
    'apidocs:read:any',
  ],
};

/** Every permission the policy file knows; custom roles and API keys may only combine these. */
export const KNOWN_PERMISSIONS: ReadonlySet<string> = new Set(Object.values(ROLE_GRANTS).flat());

export interface ParsedPermission {
  resource: string;
  action: string;
  possession?: Possession;
}

export function parsePermission(permission: string): ParsedPermission {
  const [resource, action, possession, ...rest] = permission.split(':');
  if (
    !resource ||
    !action ||
    rest.length ||
    (possession !== undefined && possession !== 'own' && possession !== 'any')
  ) {
    throw new Error(`invalid permission "${permission}": expected resource:action[:own|any]`);
  }
  return { resource, action, possession: possession as Possession | undefined };
}

/** Every grant a base role holds, its own and inherited. */
export function baseRoleGrants(role: BaseRole): Set<string> {
  const grants = new Set<string>();
  let current: BaseRole | null = role;
  while (current) {
    for (const g of ROLE_GRANTS[current]) grants.add(g);
    current = ROLE_PARENT[current];
  }
  return grants;
}

export const isBaseRole = (role: string): role is BaseRole => (BASE_ROLES as readonly string[]).includes(role);

/**
 * Permissions only administrators hold (not inherited by managers). Routes guarded by
 * them require a session that passed a second factor.
 */
export function isAdminOnly(permission: string): boolean {
  const managerGrants = baseRoleGrants('manager');
  const { resource, action } = parsePermission(permission);
  return !managerGrants.has(`${resource}:${action}:own`) && !managerGrants.has(`${resource}:${action}:any`);
}
