import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import { ifMatchOf, sendRecord } from '../lib/preconditions';
import { grantedAccess, type Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import type { Authenticate } from '../middleware/authenticate';
import { EMPLOYEE_SORTS, type EmployeeService } from '../services/employees/employee.service';

const id = z.strictObject({ id: z.string().uuid() });
const text = (max: number) => z.string().trim().min(1).max(max);
const fields = {
  name: text(200),
  workEmail: z.string().trim().email().max(254),
  department: text(64),
  managerId: z.string().uuid().nullable(),
  userId: z.string().uuid().nullable(),
  phone: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/)
    .nullable(),
  nationalId: text(40).nullable(),
  bankAccount: z
    .string()
    .trim()
    .regex(/^[A-Z0-9 ]{8,40}$/)
    .nullable(),
  salary: z.number().int().min(0).max(100_000_000_00).nullable(),
};
const createBody = z.strictObject({
  ...fields,
  managerId: fields.managerId.optional(),
  userId: fields.userId.optional(),
  phone: fields.phone.optional(),
  nationalId: fields.nationalId.optional(),
  bankAccount: fields.bankAccount.optional(),
  salary: fields.salary.optional(),
});
const patchBody = z.strictObject(
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof typeof fields]: z.ZodOptional<(typeof fields)[K]>;
  },
);
const listQuery = z.strictObject({
  page: z.coerce.number().int().min(1).max(10_000).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  sort: z.enum(EMPLOYEE_SORTS).default('name'),
  order: z.enum(['asc', 'desc']).default('asc'),
  department: text(64).optional(),
  name: text(200).optional(),
});

/** /api/v1/employees: HR records with scope, masking and field-level write rules. */
export function employeeRoutes(deps: {
  employees: EmployeeService;
  authenticate: Authenticate;
  authorize: Authorize;
}): Router {
  const router = Router();
  const { authorize } = deps;
  router.use(deps.authenticate());
  // The record scope authorize() decided for this request.
  const scope = (res: Parameters<typeof grantedAccess>[0]) => grantedAccess(res).scope;

  router.get(
    '/',
    authorize('employee:read'),
    route({ query: listQuery }, async ({ query, res }) => {
      const { items, total } = await deps.employees.list(scope(res), query);
      res.json({ items, page: query.page, limit: query.limit, total });
    }),
  );

  router.get(
    '/:id',
    authorize('employee:read'),
    route({ params: id }, async ({ params, res }) => {
      sendRecord(res, await deps.employees.get(scope(res), params.id));
    }),
  );

  router.post(
    '/',
    authorize('employee:create'),
    route({ body: createBody }, async ({ body, res }) => {
      sendRecord(res, await deps.employees.create(scope(res), body, requireAuth(res).userId), 201);
    }),
  );

  // The body is checked against the field rules before the strict schema, so a forbidden
  // field (salary, role, owner) is a 403 naming it, not a 400.
  router.patch(
    '/:id',
    authorize('employee:update'),
    route({ params: id, body: z.record(z.string(), z.unknown()) }, async ({ params, body, req, res }) => {
      sendRecord(
        res,
        await deps.employees.update(
          scope(res),
          params.id,
          body,
          requireAuth(res).userId,
          (b) => patchBody.parse(b),
          ifMatchOf(req),
        ),
      );
    }),
  );

  router.delete(
    '/:id',
    authorize('employee:delete'),
    route({ params: id }, async ({ params, req, res }) => {
      await deps.employees.remove(scope(res), params.id, requireAuth(res).userId, ifMatchOf(req));
      res.status(204).end();
    }),
  );
  return router;
}
