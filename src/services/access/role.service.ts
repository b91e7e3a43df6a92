import { AppError } from '../../lib/errors';
import type { RoleDoc, RoleModel } from '../../models/role.model';
import type { AuditTrail } from '../audit/audit-trail';
import { ROLE_GRANTS, baseRoleGrants, isBaseRole, parsePermission } from './policy';

/** Every permission the policy file knows; custom roles may only combine these. */
export const KNOWN_PERMISSIONS: ReadonlySet<string> = new Set(Object.values(ROLE_GRANTS).flat());

const CACHE_TTL_MS = 30_000;
const MAX_DEPTH = 10;

/**
 * Resolves a role name to its effective grants: base roles from the policy file, custom
 * roles from MongoDB (parent chain followed, cycles refused), cached briefly so a
 * change reaches every process within 30 s (at once in the process that made it).
 */
export class RoleService {
  private cache = new Map<string, { grants: Set<string>; at: number }>();

  constructor(private readonly deps: { roles: RoleModel; audit: AuditTrail; now?: () => Date }) {}

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

  async list(): Promise<RoleDoc[]> {
    return this.deps.roles.find().sort({ _id: 1 }).lean();
  }

  async upsert(
    name: string,
    input: { parent: string; grants: string[]; description?: string },
    actorId: string,
  ): Promise<RoleDoc> {
    if (isBaseRole(name)) throw AppError.conflict(`${name} is a built-in role; edit the policy file instead.`);
    const unknown = input.grants.filter((g) => !KNOWN_PERMISSIONS.has(g));
    for (const g of input.grants) parsePermission(g);
    if (unknown.length)
      throw AppError.validation(
        'Unknown permissions.',
        unknown.map((g) => ({ path: 'body.grants', message: `unknown permission ${g}` })),
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
    return doc as RoleDoc;
  }

  async remove(name: string, actorId: string, inUse: (role: string) => Promise<boolean>): Promise<void> {
    if (isBaseRole(name)) throw AppError.conflict(`${name} is a built-in role.`);
    if (await inUse(name))
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
