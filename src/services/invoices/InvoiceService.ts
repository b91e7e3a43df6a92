import { randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { InvoiceDoc, InvoiceModel, InvoiceStatus } from '../../models/invoice.model';
import type { AuditTrail } from '../audit/AuditTrail';
import type { AccessService } from '../access/AccessService';
import type { Scope } from '../access/access-scope';
import { applyReadPolicy, assertWritable, explainFields } from '../access/field-policy';

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
  constructor(private readonly deps: { invoices: InvoiceModel; access: AccessService; audit: AuditTrail; now?: () => Date }) {}

  private now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  private view(scope: Scope, doc: InvoiceDoc): Record<string, unknown> {
    const raw = doc as unknown as Record<string, unknown>;
    return applyReadPolicy('invoices', raw, this.deps.access.fieldContext(scope, INVOICE_SCOPE, raw));
  }

  private async load(scope: Scope, id: string): Promise<InvoiceDoc> {
    const doc = await this.deps.invoices.findOne({ _id: id, ...this.deps.access.filter(scope, INVOICE_SCOPE) }).lean();
    if (!doc) throw AppError.notFound('No such invoice.');
    return doc;
  }

  async list(scope: Scope, q: InvoiceListQuery): Promise<{ items: Record<string, unknown>[]; total: number }> {
    const filter: Record<string, unknown> = { ...this.deps.access.filter(scope, INVOICE_SCOPE) };
    if (q.status) filter.status = q.status;
    if (q.department) filter.department = q.department;
    if (q.currency) filter.currency = q.currency;
    const [docs, total] = await Promise.all([
      this.deps.invoices.find(filter).sort({ [q.sort]: q.order === 'asc' ? 1 : -1, _id: 1 }).skip((q.page - 1) * q.limit).limit(q.limit).lean(),
      this.deps.invoices.countDocuments(filter),
    ]);
    return { items: docs.map((d) => this.view(scope, d)), total };
  }

  async get(scope: Scope, id: string): Promise<Record<string, unknown>> {
    return this.view(scope, await this.load(scope, id));
  }

  async explain(scope: Scope, id: string) {
    const doc = await this.load(scope, id);
    return explainFields('invoices', this.deps.access.fieldContext(scope, INVOICE_SCOPE, doc as unknown as Record<string, unknown>));
  }

  async create(scope: Scope, input: InvoiceInput, actorId: string): Promise<Record<string, unknown>> {
    if (scope.possession !== 'any' && input.department !== scope.department) {
      throw AppError.forbidden('Invoices are created in your own department.', { fields: ['department'] });
    }
    try {
      const doc = await this.deps.invoices.create({ _id: randomUUID(), ...input, status: 'draft', createdBy: actorId, approvedBy: null, approvedAt: null, paidAt: null });
      await this.deps.audit.record({ action: 'invoice.created', outcome: 'succeeded', actorId, resource: 'invoice', resourceId: doc._id, fields: Object.keys(input) });
      return this.view(scope, doc.toObject());
    } catch (err) {
      if ((err as { code?: number }).code === 11000) throw AppError.conflict(`Invoice number ${input.number} already exists.`, 'duplicate');
      throw err;
    }
  }

  /** `parse` validates the values (400) once the field rules allowed the keys (403 otherwise); nothing is written before both pass. */
  async update(scope: Scope, id: string, raw: Record<string, unknown>, actorId: string, parse: (body: unknown) => Record<string, unknown>): Promise<Record<string, unknown>> {
    const current = await this.load(scope, id);
    try {
      assertWritable('invoices', raw, this.deps.access.fieldContext(scope, INVOICE_SCOPE, current as unknown as Record<string, unknown>));
    } catch (err) {
      await this.deps.audit.record({ action: 'invoice.update', outcome: 'denied', actorId, resource: 'invoice', resourceId: id, fields: Object.keys(raw) });
      throw err;
    }
    const changes = parse(raw);
    const updated = await this.deps.invoices.findOneAndUpdate({ _id: id, status: 'draft' }, { $set: changes }, { returnDocument: 'after', runValidators: true }).lean();
    if (!updated) throw AppError.conflict('Only draft invoices can be edited.', 'invalid-state');
    await this.deps.audit.record({ action: 'invoice.updated', outcome: 'succeeded', actorId, resource: 'invoice', resourceId: id, fields: Object.keys(changes) });
    return this.view(scope, updated);
  }

  private async transition(scope: Scope, id: string, actorId: string, from: InvoiceStatus, to: InvoiceStatus, set: Record<string, unknown>): Promise<Record<string, unknown>> {
    const current = await this.load(scope, id);
    if (to === 'approved' && current.createdBy === actorId) {
      await this.deps.audit.record({ action: 'invoice.approve', outcome: 'denied', actorId, resource: 'invoice', resourceId: id, details: { reason: 'self-approval' } });
      throw AppError.forbidden('You cannot approve an invoice you created.');
    }
    const updated = await this.deps.invoices.findOneAndUpdate({ _id: id, status: from }, { $set: { status: to, ...set } }, { returnDocument: 'after' }).lean();
    if (!updated) throw AppError.conflict(`The invoice is ${current.status}; it must be ${from}.`, 'invalid-state');
    await this.deps.audit.record({ action: `invoice.${to}`, outcome: 'succeeded', actorId, resource: 'invoice', resourceId: id, fields: ['status', ...Object.keys(set)] });
    return this.view(scope, updated);
  }

  approve(scope: Scope, id: string, actorId: string) {
    return this.transition(scope, id, actorId, 'draft', 'approved', { approvedBy: actorId, approvedAt: this.now() });
  }

  pay(scope: Scope, id: string, actorId: string) {
    return this.transition(scope, id, actorId, 'approved', 'paid', { paidAt: this.now() });
  }

  async remove(scope: Scope, id: string, actorId: string): Promise<void> {
    await this.load(scope, id);
    const res = await this.deps.invoices.deleteOne({ _id: id, status: 'draft' });
    if (res.deletedCount === 0) throw AppError.conflict('Only draft invoices can be deleted.', 'invalid-state');
    await this.deps.audit.record({ action: 'invoice.deleted', outcome: 'succeeded', actorId, resource: 'invoice', resourceId: id });
  }
}
