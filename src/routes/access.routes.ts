import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import { grantedAccess, type Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
import type { AccessPolicy, Caller } from '../services/access/access-policy';
import type { FieldExplanation } from '../services/access/field-policy';
import type { EmployeeService } from '../services/employees/employee.service';
import type { InvoiceService } from '../services/invoices/invoice.service';
import type { UserService } from '../services/users/user.service';

export interface AccessRoutesDeps {
  policy: AccessPolicy;
  employees: EmployeeService;
  invoices: InvoiceService;
  users: UserService;
  authenticate: Authenticate;
  authorize: Authorize;
}

/** The actions each resource's routes guard (`<singular>:<action>`). */
const ACTIONS = {
  employees: { permission: 'employee', actions: ['read', 'create', 'update', 'delete'] },
  invoices: { permission: 'invoice', actions: ['read', 'create', 'update', 'approve', 'pay', 'delete'] },
} as const;

/** /api/v1/access: what the policy decides for a caller, an action and a record. */
export function accessRoutes(deps: AccessRoutesDeps): Router {
  const { authorize } = deps;

  const access = Router();
  access.use(deps.authenticate());
  access.get(
    '/explain',
    authorize('access:explain'),
    route(
      {
        query: z
          .strictObject({
            resource: z.enum(['employees', 'invoices']),
            action: z.enum(['read', 'create', 'update', 'approve', 'pay', 'delete']).default('read'),
            id: z.string().uuid().optional(),
            userId: z.string().uuid().optional(),
          })
          .refine((q) => (ACTIONS[q.resource].actions as readonly string[]).includes(q.action), {
            path: ['action'],
            message: 'not an action of this resource',
          }),
      },
      async ({ query, res }) => {
        const caller = requireAuth(res);
        let subject: Caller = caller;
        if (query.userId && query.userId !== caller.userId) {
          // Another person's access is theirs to know, or an administrator's (any reach).
          if (!deps.policy.covers(grantedAccess(res).scope, { owner: '_id' }, { _id: query.userId }))
            throw AppError.forbidden('Only administrators may explain access for another user.');
          const u = await deps.users.get(query.userId);
          // Explained as for a session of that user that passed 2FA.
          subject = { kind: 'user', userId: u._id, role: u.role, department: u.department, mfa: true };
        }
        const permission = `${ACTIONS[query.resource].permission}:${query.action}`;
        const decision = await deps.policy.decide(subject, permission);
        let fields: FieldExplanation[] | null = [];
        if (decision.allowed && query.id) {
          const service = query.resource === 'employees' ? deps.employees : deps.invoices;
          fields = await service.explain(decision.scope, query.id);
        }
        const outside = fields === null;
        const reason = outside ? 'outside-scope' : decision.reason;
        res.json({
          resource: query.resource,
          action: query.action,
          permission,
          id: query.id ?? null,
          userId: subject.userId,
          role: subject.role,
          allowed: decision.allowed && !outside,
          reason,
          possession: decision.possession,
          scope: decision.scope?.kind ?? null,
          needs2fa: decision.needs2fa,
          inScope: decision.allowed && query.id ? !outside : null,
          rule: ruleText(reason, permission, decision.possession, decision.scope?.kind ?? null),
          fields: fields ?? [],
        });
      },
    ),
  );

  return access;
}

function ruleText(reason: string, permission: string, possession: string | null, scope: string | null): string {
  switch (reason) {
    case 'missing-permission':
      return `the role lacks ${permission}`;
    case 'mfa-required':
      return `${permission}:${possession} needs a session that passed two-factor authentication`;
    case 'outside-scope':
      return `outside the ${scope} scope of ${permission} (answered as 404)`;
    default:
      return `${permission}:${possession}${scope === 'department' ? ' (department-wide)' : ''}`;
  }
}
