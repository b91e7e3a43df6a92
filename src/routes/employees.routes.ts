import { Router } from 'express';
import { z } from 'zod';
import type { Authorize } from '../middleware/rbac';
import type { RouteDoc } from '../middleware/validate';
import type { Authenticate } from '../middleware/authenticate';
import { mountRecordRoutes } from './record-routes';
import { EMPLOYEE_SORTS, type EmployeeService } from '../services/employees/employee.service';

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

const CREATE_DOC: RouteDoc = {
  summary: 'Create an employee record',
  description: 'Answers the record with its ETag; fields the caller may not see are left out.',
  responses: {
    201: {
      description: 'The created record.',
      schema: z.looseObject({ id: z.string(), name: z.string(), department: z.string(), version: z.number().int() }),
    },
  },
  example: {
    body: { name: 'Ada Example', workEmail: 'ada.example@erp.example', department: 'sales' },
    status: 201,
  },
};

/** /api/v1/employees: HR records with scope, masking and field-level write rules. */
export function employeeRoutes(deps: {
  employees: EmployeeService;
  authenticate: Authenticate;
  authorize: Authorize;
}): Router {
  const router = Router();
  router.use(deps.authenticate());
  mountRecordRoutes(router, {
    permission: 'employee',
    service: deps.employees,
    authorize: deps.authorize,
    listQuery,
    createBody,
    patchBody,
    docs: { create: CREATE_DOC },
  });
  return router;
}
