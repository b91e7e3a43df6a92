import type { AuthContext } from '../../lib/auth-context';
import type { Possession } from './policy';
import type { RoleService } from './role.service';
import { inScope, scopeFilter, scopeOf, type Scope, type ScopeFields } from './access-scope';
import type { FieldContext } from './field-policy';

/** Builds the scope and per-record field context every resource service uses. */
export class AccessService {
  constructor(private readonly roles: RoleService) {}

  async scope(auth: AuthContext, possession: Possession): Promise<Scope> {
    return scopeOf(auth, possession, await this.roles.grantsOf(auth.role));
  }

  filter(scope: Scope, fields: ScopeFields): Record<string, unknown> {
    return scopeFilter(scope, fields);
  }

  fieldContext(scope: Scope, fields: ScopeFields, doc: Record<string, unknown>): FieldContext {
    return {
      scope,
      isAny: scope.possession === 'any',
      isOwner: doc[fields.owner] === scope.userId,
      managesRecord: scope.departmentWide && doc[fields.department] === scope.department,
    };
  }

  inScope(scope: Scope, fields: ScopeFields, doc: Record<string, unknown>): boolean {
    return inScope(scope, fields, doc);
  }
}
