import { randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { InvoiceDoc, InvoiceModel, InvoiceStatus } from '../../models/invoice.model';
import type { AuditTrail } from '../audit/audit-trail';
import type { AccessPolicy, RecordScope as Scope } from '../access/access-policy';
import { ScopedCollection } from '../access/scoped-collection';

export const INVOICE_SCOPE = { owner: 'createdBy', department: 'department' } as const;
export const INVOICE_SORTS = ['createdAt', 'amount', 'number', 'status'] as const;

export interface InvoiceInput {
  number: string;
  customer: string;
  amount: number;
  currency: string;
  department: string;
}

export interface InvoiceListQuery {
  page: number;
  limit: number;
  sort: (typeof INVOICE_SORTS)[number];
  order: 'asc' | 'desc';
  status?: InvoiceStatus;
  department?: string;
  currency?: string;
}

/**
 * Invoices: drafts are edited by their creator, approved by a manager of their department
 * (never by their creator: segregation of duties) or an admin, then paid. Each status
 * change is one conditional update, so two racing approvals cannot both succeed.
 */
export class InvoiceService {
  private readonly records: ScopedCollection<InvoiceDoc>;

  constructor(
    private readonly deps: { invoices: InvoiceModel; policy: AccessPolicy; audit: AuditTrail; now?: () => Date },
  ) {
    this.records = new ScopedCollection({
      model: deps.invoices,
      resource: 'invoices',
      auditName: 'invoice',
      scopeFields: INVOICE_SCOPE,
      policy: deps.policy,
      audit: deps.audit,
    });
  }

  private now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  list(scope: Scope, q: InvoiceListQuery): Promise<{ items: Record<string, unknown>[]; total: number }> {
    const where: Record<string, unknown> = {};
    if (q.status) where.status = q.status;
    if (q.department) where.department = q.department;
    if (q.currency) where.currency = q.currency;
    return this.records.list(scope, q, where);
  }

  async get(scope: Scope, id: string): Promise<Record<string, unknown>> {
    return this.records.view(scope, await this.records.load(scope, id));
  }

  explain(scope: Scope, id: string) {
    return this.records.explain(scope, id);
  }

  async create(scope: Scope, input: InvoiceInput, actorId: string): Promise<Record<string, unknown>> {
    if (scope.kind !== 'any' && input.department !== scope.department) {
      throw AppError.forbidden('Invoices are created in your own department.', { fields: ['department'] });
    }
    try {
      const doc = await this.deps.invoices.create({
        _id: randomUUID(),
        ...input,
        status: 'draft',
        createdBy: actorId,
        approvedBy: null,
        approvedAt: null,
        paidAt: null,
      });
      await this.deps.audit.record({
        action: 'invoice.created',
        outcome: 'succeeded',
        actorId,
        resource: 'invoice',
        resourceId: doc._id,
        fields: Object.keys(input),
      });
      return this.records.view(scope, doc.toObject());
    } catch (err) {
      if ((err as { code?: number }).code === 11000)
        throw AppError.conflict(`Invoice number ${input.number} already exists.`, 'duplicate');
      throw err;
    }
  }

  /** `parse` validates the values (400) once the field rules allowed the keys (403 otherwise); nothing is written before both pass. */
  async update(
    scope: Scope,
    id: string,
    raw: Record<string, unknown>,
    actorId: string,
    parse: (body: unknown) => Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    await this.records.loadForWrite(scope, id, raw, actorId);
    const changes = parse(raw);
    const updated = await this.deps.invoices
      .findOneAndUpdate(
        { _id: id, status: 'draft' },
        { $set: changes },
        { returnDocument: 'after', runValidators: true },
      )
      .lean();
    if (!updated) throw AppError.conflict('Only draft invoices can be edited.', 'invalid-state');
    await this.deps.audit.record({
      action: 'invoice.updated',
      outcome: 'succeeded',
      actorId,
      resource: 'invoice',
      resourceId: id,
      fields: Object.keys(changes),
    });
    return this.records.view(scope, updated);
  }

  private async transition(
    scope: Scope,
    id: string,
    actorId: string,
    from: InvoiceStatus,
    to: InvoiceStatus,
    set: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const current = await this.records.load(scope, id);
    if (to === 'approved' && current.createdBy === actorId) {
      await this.deps.audit.record({
        action: 'invoice.approve',
        outcome: 'denied',
        actorId,
        resource: 'invoice',
        resourceId: id,
        details: { reason: 'self-approval' },
      });
      throw AppError.forbidden('You cannot approve an invoice you created.');
    }
    const updated = await this.deps.invoices
      .findOneAndUpdate({ _id: id, status: from }, { $set: { status: to, ...set } }, { returnDocument: 'after' })
      .lean();
    if (!updated) throw AppError.conflict(`The invoice is ${current.status}; it must be ${from}.`, 'invalid-state');
    await this.deps.audit.record({
      action: `invoice.${to}`,
      outcome: 'succeeded',
      actorId,
      resource: 'invoice',
      resourceId: id,
      fields: ['status', ...Object.keys(set)],
    });
    return this.records.view(scope, updated);
  }

  approve(scope: Scope, id: string, actorId: string) {
    return this.transition(scope, id, actorId, 'draft', 'approved', { approvedBy: actorId, approvedAt: this.now() });
  }

  pay(scope: Scope, id: string, actorId: string) {
    return this.transition(scope, id, actorId, 'approved', 'paid', { paidAt: this.now() });
  }

  async remove(scope: Scope, id: string, actorId: string): Promise<void> {
    await this.records.load(scope, id);
    const res = await this.deps.invoices.deleteOne({ _id: id, status: 'draft' });
    if (res.deletedCount === 0) throw AppError.conflict('Only draft invoices can be deleted.', 'invalid-state');
    await this.deps.audit.record({
      action: 'invoice.deleted',
      outcome: 'succeeded',
      actorId,
      resource: 'invoice',
      resourceId: id,
    });
  }
}
