import { AppError } from '../../lib/errors';
import type { RoleDoc, RoleModel } from '../../models/role.model';
import type { UserModel } from '../../models/user.model';
import type { AuditTrail } from '../audit/audit-trail';
import { KNOWN_PERMISSIONS, baseRoleGrants, isBaseRole, parsePermission } from './policy';

/** A custom role as the API answers it (`id`, like every other resource). */
export interface RoleView {
  id: string;
  parent: string;
  grants: string[];
  description: string;
  createdAt: Date;
  updatedAt: Date;
}

const view = ({ _id, ...rest }: RoleDoc): RoleView => ({ id: _id, ...rest });

/** Why a grant name cannot be used, or null when it is a known permission. */
function grantProblem(grant: string): string | null {
  try {
    parsePermission(grant);
  } catch {
    return `malformed permission ${grant}: expected resource:action:own|any`;
  }
  return KNOWN_PERMISSIONS.has(grant) ? null : `unknown permission ${grant}`;
}

const CACHE_TTL_MS = 30_000;
const MAX_DEPTH = 10;

/**
 * Resolves a role name to its effective grants: base roles from the policy file, custom
 * roles from MongoDB (parent chain followed, cycles refused), cached briefly so a
 * change reaches every process within 30 s (at once in the process that made it).
 */
export class RoleService {
  private cache = new Map<string, { grants: Set<string>; at: number }>();

  constructor(private readonly deps: { roles: RoleModel; users: UserModel; audit: AuditTrail; now?: () => Date }) {}

  private now(): number {
    return (this.deps.now ?? (() => new Date()))().getTime();
  }

  async grantsOf(role: string): Promise<Set<string>> {
    if (isBaseRole(role)) return baseRoleGrants(role);
    const hit = this.cache.get(role);
    if (hit && this.now() - hit.at < CACHE_TTL_MS) return hit.grants;
    const grants = new Set<string>();
    let name: string = role;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      if (isBaseRole(name)) {
        for (const g of baseRoleGrants(name)) grants.add(g);
        this.cache.set(role, { grants, at: this.now() });
        return grants;
      }
      const doc: RoleDoc | null = await this.deps.roles.findById(name).lean();
      if (!doc) return new Set(); // unknown role: no permissions at all
      for (const g of doc.grants) grants.add(g);
      name = doc.parent;
    }
    return new Set();
  }

  async exists(role: string): Promise<boolean> {
    return isBaseRole(role) || (await this.deps.roles.exists({ _id: role })) !== null;
  }

  async list(): Promise<RoleView[]> {
    return (await this.deps.roles.find().sort({ _id: 1 }).lean()).map(view);
  }

  async upsert(
    name: string,
    input: { parent: string; grants: string[]; description?: string },
    actorId: string,
  ): Promise<RoleView> {
    if (isBaseRole(name)) throw AppError.conflict(`${name} is a built-in role; edit the policy file instead.`);
    // Malformed and unknown names are the caller's mistake (400), checked before anything is written.
    const problems = input.grants.map(grantProblem).filter((p): p is string => p !== null);
    if (problems.length)
      throw AppError.validation(
        'Unknown or malformed permissions.',
        problems.map((message) => ({ path: 'body.grants', message })),
      );
    // The parent chain must end in a base role without passing through this role.
    let p = input.parent;
    for (let depth = 0; ; depth++) {
      if (p === name || depth >= MAX_DEPTH)
        throw AppError.validation('Invalid parent.', [
          { path: 'body.parent', message: 'the parent chain loops or is too deep' },
        ]);
      if (isBaseRole(p)) break;
      const parent = await this.deps.roles.findById(p).lean();
      if (!parent)
        throw AppError.validation('Invalid parent.', [{ path: 'body.parent', message: `no role named ${p}` }]);
      p = parent.parent;
    }
    const doc = await this.deps.roles
      .findOneAndUpdate(
        { _id: name },
        {
          $set: {
            parent: input.parent,
            grants: [...new Set(input.grants)].sort(),
            description: input.description ?? '',
          },
        },
        { upsert: true, returnDocument: 'after' },
      )
      .lean();
    this.cache.clear();
    await this.deps.audit.record({
      action: 'role.saved',
      outcome: 'succeeded',
      actorId,
      resource: 'role',
      resourceId: name,
      fields: ['parent', 'grants'],
    });
    return view(doc as RoleDoc);
  }

  /** Deletes a custom role that no user holds and no other role inherits from. */
  async remove(name: string, actorId: string): Promise<void> {
    if (isBaseRole(name)) throw AppError.conflict(`${name} is a built-in role.`);
    const [assigned, parentOf] = await Promise.all([
      this.deps.users.exists({ role: name }),
      this.deps.roles.exists({ parent: name }),
    ]);
    if (assigned !== null || parentOf !== null)
      throw AppError.conflict(`Role ${name} is still assigned to users or is a parent of another role.`);
    const res = await this.deps.roles.deleteOne({ _id: name });
    if (res.deletedCount === 0) throw AppError.notFound('No such role.');
    this.cache.clear();
    await this.deps.audit.record({
      action: 'role.deleted',
      outcome: 'succeeded',
      actorId,
      resource: 'role',
      resourceId: name,
    });
  }
}
