import { AppError } from '../../lib/errors';
import { mask, type MaskKind } from '../encryption/masking';
import type { RecordScope } from './access-policy';

export type FieldRead = 'visible' | 'masked' | 'hidden';

/** Who is looking at which record: what every field rule decides on. */
export interface FieldContext {
  scope: RecordScope;
  /** The record belongs to the caller. */
  isOwner: boolean;
  /** The record is in the caller's department and the caller's scope is department-wide (a manager). */
  managesRecord: boolean;
  /** The caller holds `any` on the resource (administrators). */
  isAny: boolean;
}

export interface FieldRule {
  read: (c: FieldContext) => { access: FieldRead; rule: string };
  write: (c: FieldContext) => { allowed: boolean; rule: string };
  mask?: MaskKind;
}

const visible =
  (rule = 'visible to everyone who can read the record') =>
  () => ({ access: 'visible' as const, rule });
const adminWrite = () => (c: FieldContext) => ({
  allowed: c.isAny,
  rule: 'only administrators (any-scope) may change it',
});
const selfOrAdminWrite = () => (c: FieldContext) => ({
  allowed: c.isAny || c.isOwner,
  rule: 'the record owner or an administrator may change it',
});
const never = (why: string) => () => ({ allowed: false, rule: why });

/** Per resource and field: read visibility and write permission. One place, declarative. */
export const FIELD_POLICY: Record<string, Record<string, FieldRule>> = {
  employees: {
    name: { read: visible(), write: selfOrAdminWrite() },
    workEmail: { read: visible(), write: adminWrite() },
    department: { read: visible(), write: adminWrite() },
    managerId: { read: visible(), write: adminWrite() },
    userId: { read: visible(), write: adminWrite() },
    phone: {
      mask: 'phone',
      read: (c) =>
        c.isAny || c.isOwner || c.managesRecord
          ? { access: 'visible', rule: 'owner, department manager and administrators see it' }
          : { access: 'masked', rule: 'others see the last digits' },
      write: selfOrAdminWrite(),
    },
    nationalId: {
      mask: 'tail',
      read: (c) =>
        c.isAny
          ? { access: 'visible', rule: 'administrators see it in full' }
          : c.isOwner || c.managesRecord
            ? { access: 'masked', rule: 'owner and department manager see the last 4 characters' }
            : { access: 'hidden', rule: 'hidden from everyone else' },
      write: adminWrite(),
    },
    bankAccount: {
      mask: 'tail',
      read: (c) =>
        c.isAny
          ? { access: 'visible', rule: 'administrators see it in full' }
          : c.isOwner
            ? { access: 'masked', rule: 'the owner sees the last 4 characters' }
            : { access: 'hidden', rule: 'hidden from everyone else' },
      write: selfOrAdminWrite(),
    },
    salary: {
      read: (c) =>
        c.isAny || c.managesRecord
          ? { access: 'visible', rule: "administrators and the department's managers see it" }
          : { access: 'hidden', rule: "only administrators and the department's managers see it" },
      write: adminWrite(),
    },
    createdAt: { read: visible(), write: never('set by the system') },
    updatedAt: { read: visible(), write: never('set by the system') },
  },
  invoices: {
    number: { read: visible(), write: selfOrAdminWrite() },
    customer: { read: visible(), write: selfOrAdminWrite() },
    amount: { read: visible(), write: selfOrAdminWrite() },
    currency: { read: visible(), write: selfOrAdminWrite() },
    status: { read: visible(), write: never('changes only through the approve and pay actions') },
    department: { read: visible(), write: adminWrite() },
    createdBy: { read: visible(), write: never('set by the system') },
    approvedBy: { read: visible(), write: never('set by the approve action') },
    approvedAt: { read: visible(), write: never('set by the approve action') },
    paidAt: { read: visible(), write: never('set by the pay action') },
    createdAt: { read: visible(), write: never('set by the system') },
    updatedAt: { read: visible(), write: never('set by the system') },
  },
};

/** Attribute names that are never writable through a resource, wherever they are sent (mass assignment). */
const PROTECTED_ATTRIBUTES = new Set([
  'role',
  'owner',
  'ownerId',
  'permissions',
  'grants',
  'id',
  '_id',
  'mfa',
  'passwordHash',
]);

/** Applies the read rules: hidden fields are dropped, masked ones masked. Used for every way data leaves. */
export function applyReadPolicy(
  resource: string,
  doc: Record<string, unknown>,
  c: FieldContext,
): Record<string, unknown> {
  const rules = FIELD_POLICY[resource];
  const out: Record<string, unknown> = { id: doc._id };
  for (const [field, rule] of Object.entries(rules)) {
    if (!(field in doc)) continue;
    const { access } = rule.read(c);
    if (access === 'visible') out[field] = doc[field];
    else if (access === 'masked')
      out[field] = doc[field] === null || doc[field] === undefined ? doc[field] : mask(rule.mask ?? 'tail', doc[field]);
  }
  return out;
}

/** Refuses (403, naming the fields) a write that touches any field the caller may not write. Runs before anything is written. */
export function assertWritable(resource: string, changes: Record<string, unknown>, c: FieldContext): void {
  const rules = FIELD_POLICY[resource];
  const refused = Object.keys(changes).filter(
    (f) => PROTECTED_ATTRIBUTES.has(f) || (rules[f] !== undefined && !rules[f].write(c).allowed),
  );
  if (refused.length) {
    throw AppError.forbidden(`You may not change: ${refused.join(', ')}.`, { fields: refused });
  }
}

export interface FieldExplanation {
  field: string;
  read: FieldRead;
  readRule: string;
  writable: boolean;
  writeRule: string;
}

export function explainFields(resource: string, c: FieldContext): FieldExplanation[] {
  return Object.entries(FIELD_POLICY[resource]).map(([field, rule]) => {
    const r = rule.read(c);
    const w = rule.write(c);
    return { field, read: r.access, readRule: r.rule, writable: w.allowed, writeRule: w.rule };
  });
}
