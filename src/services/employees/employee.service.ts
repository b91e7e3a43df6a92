import { randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { EmployeeDoc, EmployeeModel } from '../../models/employee.model';
import type { AuditTrail } from '../audit/audit-trail';
import type { AccessPolicy, RecordScope as Scope } from '../access/access-policy';
import { assertWritable } from '../access/field-policy';
import { ScopedRecordService, ScopedCollection } from '../access/scoped-collection';
import type { VersionedWriter } from '../versioning/versioned-writer';

export const EMPLOYEE_SCOPE = { owner: 'userId', department: 'department' } as const;
export const EMPLOYEE_SORTS = ['name', 'department', 'createdAt'] as const;

export interface EmployeeInput {
  name: string;
  workEmail: string;
  department: string;
  managerId?: string | null;
  userId?: string | null;
  phone?: string | null;
  nationalId?: string | null;
  bankAccount?: string | null;
  salary?: number | null;
}

export interface ListQuery {
  page: number;
  limit: number;
  sort: (typeof EMPLOYEE_SORTS)[number];
  order: 'asc' | 'desc';
  department?: string;
  name?: string;
}

/**
 * Employee records, with scope and field rules applied on every read and write. Changes go
 * through the VersionedWriter: of racing edits exactly one wins, the others get 409.
 */
export class EmployeeService extends ScopedRecordService<EmployeeDoc> {
  constructor(
    private readonly deps: {
      employees: EmployeeModel;
      policy: AccessPolicy;
      audit: AuditTrail;
      writer: VersionedWriter;
      /** Reads outside the caller's scope, for the security events (optional: tests build services without). */
      onOutOfScope?: (e: { resource: string; resourceId: string }) => Promise<void>;
    },
  ) {
    super(
      new ScopedCollection({
        model: deps.employees,
        resource: 'employees',
        auditName: 'employee',
        label: 'employee record',
        scopeFields: EMPLOYEE_SCOPE,
        policy: deps.policy,
        audit: deps.audit,
        writer: deps.writer,
        onOutOfScope: deps.onOutOfScope,
      }),
    );
  }

  list(scope: Scope, q: ListQuery): Promise<{ items: Record<string, unknown>[]; total: number }> {
    const where: Record<string, unknown> = {};
    if (q.department) where.department = q.department;
    if (q.name) where.name = q.name;
    return this.records.list(scope, q, where);
  }

  async create(scope: Scope, input: EmployeeInput, actorId: string): Promise<Record<string, unknown>> {
    if (scope.kind !== 'any') {
      // The new record as the field rules see it: not yet anyone's, in the department named.
      const ctx = this.deps.policy.fieldContext(scope, EMPLOYEE_SCOPE, { department: input.department });
      if (!ctx.managesRecord)
        throw AppError.forbidden('You may only create employees in your own department.', { fields: ['department'] });
      assertWritable('employees', pickSensitive(input), ctx);
    }
    const doc = await this.deps.employees.create({
      _id: randomUUID(),
      managerId: null,
      userId: null,
      phone: null,
      nationalId: null,
      bankAccount: null,
      salary: null,
      ...input,
    });
    await this.deps.audit.record({
      action: 'employee.created',
      outcome: 'succeeded',
      actorId,
      resource: 'employee',
      resourceId: doc._id,
      fields: Object.keys(input),
    });
    return this.records.view(scope, doc.toObject());
  }
}

/**
 * A manager creates a record with its basic fields (name, work email, own department); the
 * fields a manager could not write on update either (salary, national ID, links, and the
 * employee's own phone and bank account) go through the same field rules and are refused.
 */
function pickSensitive(input: EmployeeInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['salary', 'nationalId', 'userId', 'managerId', 'phone', 'bankAccount'] as const)
    if (input[k] !== undefined && input[k] !== null) out[k] = input[k];
  return out;
}
