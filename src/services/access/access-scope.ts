import type { AuthContext } from '../../lib/auth-context';
import type { Possession } from './policy';

export interface ScopeFields {
  /** Field naming the user who owns the record. */
  owner: string;
  /** Field naming the record's department. */
  department: string;
}

export interface Scope {
  possession: Possession;
  /** The caller's `own` reaches their whole department. */
  departmentWide: boolean;
  userId: string;
  department: string | null;
}

export function scopeOf(auth: AuthContext, possession: Possession, grants: Set<string>): Scope {
  return {
    possession,
    departmentWide: grants.has('scope:department:own') && auth.department !== null,
    userId: auth.userId,
    department: auth.department,
  };
}

/**
 * THE ownership rule, as a MongoDB filter: `any` reaches everything; `own` reaches
 * records the caller owns, or for department-wide roles (managers) their department's.
 * List endpoints AND it into their query, so out-of-scope records are never loaded;
 * single-record reads use it too and answer 404 (not 403) outside the scope.
 */
export function scopeFilter(scope: Scope, fields: ScopeFields): Record<string, unknown> {
  if (scope.possession === 'any') return {};
  if (scope.departmentWide)
    return { $or: [{ [fields.department]: scope.department }, { [fields.owner]: scope.userId }] };
  return { [fields.owner]: scope.userId };
}

/** The same rule for a record already in hand (e.g. to explain or double-check). */
export function inScope(scope: Scope, fields: ScopeFields, doc: Record<string, unknown>): boolean {
  if (scope.possession === 'any') return true;
  if (doc[fields.owner] === scope.userId) return true;
  return scope.departmentWide && doc[fields.department] === scope.department;
}
