import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import { grantedScope, possessionIn, type Authorize } from '../middleware/rbac';
import { requireAuth, type AuthContext } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
import type { AccessService } from '../services/access/AccessService';
import type { RoleService } from '../services/access/RoleService';
import type { EmployeeService } from '../services/employees/EmployeeService';
import type { InvoiceService } from '../services/invoices/InvoiceService';
import type { UserService } from '../services/users/UserService';
import type { AuditTrail } from '../services/audit/AuditTrail';

const roleName = z.string().regex(/^[a-z][a-z0-9-]{1,31}$/);

export interface AccessRoutesDeps {
  access: AccessService;
  roles: RoleService;
  employees: EmployeeService;
  invoices: InvoiceService;
  users: UserService;
  audit: AuditTrail;
  authenticate: Authenticate;
  authorize: Authorize;
}

/** /api/v1/access (explain), /api/v1/roles (custom roles), /api/v1/audit (trail and its verification). */
export function accessRoutes(deps: AccessRoutesDeps): { access: Router; roles: Router; audit: Router } {
  const { authorize } = deps;

  const access = Router();
  access.use(deps.authenticate());
  access.get('/explain', authorize('access:explain'), route({ query: z.strictObject({ resource: z.enum(['employees', 'invoices']), id: z.string().uuid(), userId: z.string().uuid().optional() }) }, async ({ query, res }) => {
    const caller = requireAuth(res);
    let subject: AuthContext = caller;
    if (query.userId && query.userId !== caller.userId) {
      if (grantedScope(res) !== 'any') throw AppError.forbidden('Only administrators may explain access for another user.');
      const u = await deps.users.get(query.userId);
      subject = { kind: 'user', userId: u._id, role: u.role, department: u.department, mfa: true, enrollmentOnly: false };
    }
    const permission = query.resource === 'employees' ? 'employee:read' : 'invoice:read';
    const possession = possessionIn(await deps.roles.grantsOf(subject.role), subject, permission);
    if (!possession) {
      res.json({ resource: query.resource, id: query.id, userId: subject.userId, role: subject.role, allowed: false, rule: `the role lacks ${permission}`, fields: [] });
      return;
    }
    const scope = await deps.access.scope(subject, possession);
    const service = query.resource === 'employees' ? deps.employees : deps.invoices;
    const fields = await service.explain(scope, query.id).catch((err: unknown) => {
      if (err instanceof AppError && err.status === 404) return null;
      throw err;
    });
    res.json({
      resource: query.resource,
      id: query.id,
      userId: subject.userId,
      role: subject.role,
      allowed: fields !== null,
      rule: fields === null ? `outside the ${possession} scope of ${permission} (answered as 404)` : `${permission}:${possession}${scope.departmentWide && possession === 'own' ? ' (department-wide)' : ''}`,
      fields: fields ?? [],
    });
  }));

  const roles = Router();
  roles.use(deps.authenticate());
  roles.get('/', authorize('role:manage'), route({}, async ({ res }) => {
    res.json({ items: await deps.roles.list() });
  }));
  roles.put('/:name', authorize('role:manage'), route({ params: z.strictObject({ name: roleName }), body: z.strictObject({ parent: roleName, grants: z.array(z.string().max(80)).max(200), description: z.string().max(200).optional() }) }, async ({ params, body, res }) => {
    res.json(await deps.roles.upsert(params.name, body, requireAuth(res).userId));
  }));
  roles.delete('/:name', authorize('role:manage'), route({ params: z.strictObject({ name: roleName }) }, async ({ params, res }) => {
    await deps.roles.remove(params.name, requireAuth(res).userId, async (r) => (await deps.users.list({ page: 1, limit: 1, role: r })).total > 0 || (await deps.roles.list()).some((x) => x.parent === r));
    res.status(204).end();
  }));

  const audit = Router();
  audit.use(deps.authenticate());
  audit.get('/', authorize('audit:read'), route({ query: z.strictObject({
    page: z.coerce.number().int().min(1).max(100_000).default(1),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    action: z.string().regex(/^[a-z0-9.-]{1,64}$/).optional(),
    actorId: z.string().max(64).optional(),
    resource: z.string().regex(/^[a-z-]{1,32}$/).optional(),
    resourceId: z.string().max(64).optional(),
    outcome: z.enum(['allowed', 'denied', 'failed', 'succeeded']).optional(),
    from: z.coerce.date().optional(),
    to: z.coerce.date().optional(),
  }) }, async ({ query, res }) => {
    res.json(await deps.audit.list(query));
  }));
  audit.get('/verify', authorize('audit:verify'), route({}, async ({ res }) => {
    res.json(await deps.audit.verify());
  }));

  return { access, roles, audit };
}
