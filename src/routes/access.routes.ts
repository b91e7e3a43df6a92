import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import { grantedScope, possessionIn, type Authorize } from '../middleware/rbac';
import { requireAuth, type AuthContext } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
import type { AccessService } from '../services/access/access.service';
import type { RoleService } from '../services/access/role.service';
import type { EmployeeService } from '../services/employees/employee.service';
import type { InvoiceService } from '../services/invoices/invoice.service';
import type { UserService } from '../services/users/user.service';

export interface AccessRoutesDeps {
  access: AccessService;
  roles: RoleService;
  employees: EmployeeService;
  invoices: InvoiceService;
  users: UserService;
  authenticate: Authenticate;
  authorize: Authorize;
}

/** /api/v1/access: what the policy decides for a caller and a record. */
export function accessRoutes(deps: AccessRoutesDeps): Router {
  const { authorize } = deps;

  const access = Router();
  access.use(deps.authenticate());
  access.get(
    '/explain',
    authorize('access:explain'),
    route(
      {
        query: z.strictObject({
          resource: z.enum(['employees', 'invoices']),
          id: z.string().uuid(),
          userId: z.string().uuid().optional(),
        }),
      },
      async ({ query, res }) => {
        const caller = requireAuth(res);
        let subject: AuthContext = caller;
        if (query.userId && query.userId !== caller.userId) {
          if (grantedScope(res) !== 'any')
            throw AppError.forbidden('Only administrators may explain access for another user.');
          const u = await deps.users.get(query.userId);
          subject = {
            kind: 'user',
            userId: u._id,
            role: u.role,
            department: u.department,
            mfa: true,
            enrollmentOnly: false,
          };
        }
        const permission = query.resource === 'employees' ? 'employee:read' : 'invoice:read';
        const possession = possessionIn(await deps.roles.grantsOf(subject.role), subject, permission);
        if (!possession) {
          res.json({
            resource: query.resource,
            id: query.id,
            userId: subject.userId,
            role: subject.role,
            allowed: false,
            rule: `the role lacks ${permission}`,
            fields: [],
          });
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
          rule:
            fields === null
              ? `outside the ${possession} scope of ${permission} (answered as 404)`
              : `${permission}:${possession}${scope.departmentWide && possession === 'own' ? ' (department-wide)' : ''}`,
          fields: fields ?? [],
        });
      },
    ),
  );

  return access;
}
