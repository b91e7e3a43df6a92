/**
 * THE role-permission map. Roles inherit every grant of the role below them:
 * admin > manager > user > guest. A permission is `resource:action:possession`,
 * possession `own` (the caller's own records / own scope) or `any`.
 * Routes name permissions (`authorize('invoice:approve')`), never roles.
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
  guest: [],
  user: ['profile:read:own', 'profile:update:own', 'apikey:create:own', 'apikey:read:own', 'apikey:revoke:own', 'apikey:rotate:own'],
  manager: [],
  admin: [
    'user:create:any',
    'user:read:any',
    'user:update:any',
    'user:mfa-reset:any',
    'audit:read:any',
    'apikey:revoke:any',
    'apikey:rotate:any',
    'encryption:rotate:any',
    'encryption:read:any',
  ],
};

export interface ParsedPermission {
  resource: string;
  action: string;
  possession?: Possession;
}

export function parsePermission(permission: string): ParsedPermission {
  const [resource, action, possession, ...rest] = permission.split(':');
  if (!resource || !action || rest.length || (possession !== undefined && possession !== 'own' && possession !== 'any')) {
    throw new Error(`invalid permission "${permission}": expected resource:action[:own|any]`);
  }
  return { resource, action, possession: possession as Possession | undefined };
}
