import type { AuthContext } from '../../lib/auth-context';
import { AppError } from '../../lib/errors';
import type { FieldContext } from './field-policy';
import {
  KNOWN_PERMISSIONS,
  ROLE_PARENT,
  baseRoleGrants,
  isAdminOnly,
  isBaseRole,
  parsePermission,
  type BaseRole,
  type Possession,
} from './policy';
import type { RoleService } from './role.service';

/** Who asks: a user session or an API key (its owner's role, limited to the key's scopes). */
export type Caller = Pick<AuthContext, 'kind' | 'userId' | 'role' | 'department' | 'mfa' | 'scopes'>;

/**
 * How far an allowed action reaches: `any` every record; `department` the records of the
 * caller's department (and their own); `own` only the records the caller owns.
 */
export interface RecordScope {
  kind: 'any' | 'department' | 'own';
  userId: string;
  department: string | null;
}

/** Which fields of a resource name its owner and its department (none: department reach does not apply). */
export interface ScopeFields {
  owner: string;
  department?: string;
}

export type DenialReason = 'missing-permission' | 'mfa-required';

/** What the policy decided for a caller and `resource:action`. */
export type AccessDecision =
  | {
      allowed: true;
      permission: string;
      reason: 'granted';
      possession: Possession;
      /** The action needs a session that passed 2FA (met: the caller has one, or is an API key minted by one). */
      needs2fa: boolean;
      scope: RecordScope;
    }
  | {
      allowed: false;
      permission: string;
      reason: DenialReason;
      /** The possession the caller holds (only when the refusal is for a missing second factor). */
      possession: Possession | null;
      needs2fa: boolean;
      scope: null;
    };

export type GrantedAccess = Extract<AccessDecision, { allowed: true }>;

/** The 2FA answer every refusal for a missing second factor gives. */
export const mfaRequired = (): AppError =>
  new AppError({
    code: 'mfa-required',
    status: 403,
    title: 'Two-Factor Session Required',
    detail: 'This administrative action requires a session that passed two-factor authentication.',
  });

/**
 * Whether exercising a permission with `possession` needs a 2FA session: permissions only
 * administrators hold, and any `any` reach (every employee's bank account), which no base
 * role below admin has.
 */
export const needsSecondFactor = (permission: string, possession: Possession | undefined): boolean =>
  isAdminOnly(permission) || possession === 'any';

/**
 * THE access policy. For a caller and an action it answers: allowed or not (and why), the
 * record scope (a MongoDB filter and the same rule for a record in hand), the field
 * context the declarative field table (field-policy.ts) decides on, and whether a 2FA
 * session is needed. It also decides, from a role's grants, whether signing in requires
 * enrolling a second factor. authorize() asks it for every guarded route and leaves the
 * decision on res.locals; routes and services use that decision and never recompute it.
 */
export class AccessPolicy {
  /** Grants that put a role at or above one of the MFA-required base roles. */
  private readonly enrollmentGrants: ReadonlySet<string>;

  constructor(
    private readonly deps: {
      roles: RoleService;
      /** Base roles at or above which a second factor is mandatory (config auth.mfaRequiredRoles). */
      mfaRequiredRoles: readonly string[];
    },
  ) {
    const unknown = deps.mfaRequiredRoles.filter((r) => !isBaseRole(r));
    if (unknown.length)
      throw new Error(`MFA_REQUIRED_ROLES names roles that are not base roles: ${unknown.join(', ')}`);
    this.enrollmentGrants = enrollmentGrantsFor(deps.mfaRequiredRoles as BaseRole[]);
  }

  /** The grants a caller may use: its role's (inherited included), and for an API key only those among its scopes. */
  async grantsOf(caller: Pick<Caller, 'kind' | 'role' | 'scopes'>): Promise<Set<string>> {
    const grants = await this.deps.roles.grantsOf(caller.role);
    if (caller.kind !== 'apiKey') return grants;
    const scopes = new Set(caller.scopes ?? []);
    return new Set([...grants].filter((g) => scopes.has(g)));
  }

  /**
   * Decides `resource:action` (widest possession held, `any` beats `own`) or
   * `resource:action:possession` (that one; `any` also satisfies `own`).
   */
  async decide(caller: Caller, permission: string): Promise<AccessDecision> {
    const { resource, action, possession: asked } = parsePermission(permission);
    const grants = await this.grantsOf(caller);
    const holds = (p: Possession): boolean => grants.has(`${resource}:${action}:${p}`);
    const held: Possession | null = holds('any') ? 'any' : asked !== 'any' && holds('own') ? 'own' : null;
    const needs2fa = needsSecondFactor(permission, held ?? asked);
    if (!held)
      return { allowed: false, permission, reason: 'missing-permission', possession: null, needs2fa, scope: null };
    // An API key has no session: one needing 2FA reach could only be minted from a 2FA session (assertMayMint).
    if (needs2fa && caller.kind === 'user' && !caller.mfa)
      return { allowed: false, permission, reason: 'mfa-required', possession: held, needs2fa, scope: null };
    const kind =
      held === 'any' ? 'any' : grants.has('scope:department:own') && caller.department !== null ? 'department' : 'own';
    return {
      allowed: true,
      permission,
      reason: 'granted',
      possession: held,
      needs2fa,
      scope: { kind, userId: caller.userId, department: caller.department },
    };
  }

  /** The scope as a MongoDB filter: list queries AND it in, single reads use it (404 outside). */
  filter(scope: RecordScope, fields: ScopeFields): Record<string, unknown> {
    if (scope.kind === 'any') return {};
    if (scope.kind === 'department' && fields.department)
      return { $or: [{ [fields.department]: scope.department }, { [fields.owner]: scope.userId }] };
    return { [fields.owner]: scope.userId };
  }

  /** `query` limited to the scope. ANDed, never spread: a scope on `_id` must not overwrite the record asked for. */
  restrict(query: Record<string, unknown>, scope: RecordScope, fields: ScopeFields): Record<string, unknown> {
    const f = this.filter(scope, fields);
    return Object.keys(f).length ? { $and: [query, f] } : query;
  }

  /** The same rule for a record already in hand. */
  covers(scope: RecordScope, fields: ScopeFields, doc: Record<string, unknown>): boolean {
    if (scope.kind === 'any' || doc[fields.owner] === scope.userId) return true;
    return this.manages(scope, fields, doc);
  }

  /** Who is looking at which record: what the field rules decide on. */
  fieldContext(scope: RecordScope, fields: ScopeFields, doc: Record<string, unknown>): FieldContext {
    return {
      scope,
      isAny: scope.kind === 'any',
      isOwner: doc[fields.owner] === scope.userId,
      managesRecord: this.manages(scope, fields, doc),
    };
  }

  private manages(scope: RecordScope, fields: ScopeFields, doc: Record<string, unknown>): boolean {
    return (
      scope.kind === 'department' &&
      fields.department !== undefined &&
      scope.department !== null &&
      doc[fields.department] === scope.department
    );
  }

  /**
   * A key with reach that needs a 2FA session (admin-only permissions, `any`) outlives the
   * session that made it: only a 2FA session may mint one.
   */
  assertMayMint(caller: Caller, scopes: readonly string[]): void {
    const needs = scopes.some((s) => needsSecondFactor(s, parsePermission(s).possession));
    if (needs && !caller.mfa) throw mfaRequired();
  }

  /**
   * Whether holders of `role` must sign in with a second factor: its effective grants
   * (inherited ones included) reach at or above one of the MFA-required base roles, i.e.
   * hold a grant that role or a higher one has but the role below it lacks.
   */
  async requiresSecondFactor(role: string): Promise<boolean> {
    if (this.enrollmentGrants.size === 0) return false;
    for (const g of await this.deps.roles.grantsOf(role)) if (this.enrollmentGrants.has(g)) return true;
    return false;
  }
}

/** Every known grant a role at or above one of `roles` may hold that the role below it does not. */
export function enrollmentGrantsFor(roles: readonly BaseRole[]): Set<string> {
  const out = new Set<string>();
  for (const role of roles) {
    const parent = ROLE_PARENT[role];
    const below = parent ? baseRoleGrants(parent) : new Set<string>();
    for (const g of KNOWN_PERMISSIONS) if (!below.has(g)) out.add(g);
  }
  return out;
}
