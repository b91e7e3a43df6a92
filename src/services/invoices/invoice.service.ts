import { randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { InvoiceDoc, InvoiceModel, InvoiceStatus } from '../../models/invoice.model';
import type { AuditTrail } from '../audit/audit-trail';
import type { AccessPolicy, RecordScope as Scope } from '../access/access-policy';
import { ScopedCollection, ScopedRecordService } from '../access/scoped-collection';
import { assertIfMatch, type IfMatch } from '../../lib/preconditions';
import { versionOf, type VersionedWriter } from '../versioning/versioned-writer';

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
 * or an admin, then paid. Segregation of duties: nobody approves or pays an invoice they
 * created, and (unless `approverMayPay`) nobody pays one they approved. Every change of a
 * stored invoice goes through the VersionedWriter, so of racing changes exactly one wins.
 */
export class InvoiceService extends ScopedRecordService<InvoiceDoc> {
  constructor(
    private readonly deps: {
      invoices: InvoiceModel;
      policy: AccessPolicy;
      audit: AuditTrail;
      writer: VersionedWriter;
      /** Reads outside the caller's scope, for the security events (optional: tests build services without). */
      onOutOfScope?: (e: { resource: string; resourceId: string }) => Promise<void>;
      /** INVOICE_APPROVER_MAY_PAY: the approver may also pay (never the creator). */
      approverMayPay: boolean;
      now?: () => Date;
    },
  ) {
    super(
      new ScopedCollection({
        model: deps.invoices,
        resource: 'invoices',
        auditName: 'invoice',
        label: 'invoice',
        scopeFields: INVOICE_SCOPE,
        policy: deps.policy,
        audit: deps.audit,
        writer: deps.writer,
        onOutOfScope: deps.onOutOfScope,
      }),
    );
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

  protected override assertEditable(current: InvoiceDoc): void {
    assertDraft(current, 'edited');
  }

  protected override assertRemovable(current: InvoiceDoc): void {
    assertDraft(current, 'deleted');
  }

  private async transition(
    scope: Scope,
    id: string,
    actorId: string,
    from: InvoiceStatus,
    to: InvoiceStatus,
    set: Record<string, unknown>,
    ifMatch: IfMatch | undefined,
  ): Promise<Record<string, unknown>> {
    const current = await this.records.load(scope, id);
    assertIfMatch(ifMatch, versionOf(current), 'invoice');
    await this.assertDutiesSegregated(current, to, actorId);
    if (current.status !== from)
      throw AppError.conflict(`The invoice is ${current.status}; it must be ${from}.`, 'invalid-state');
    const updated = await this.deps.writer.update(this.deps.invoices, current, { status: to, ...set }, 'invoice');
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

  /** Refuses (403, audited) the creator approving or paying, and the approver paying unless configured. */
  private async assertDutiesSegregated(current: InvoiceDoc, to: InvoiceStatus, actorId: string): Promise<void> {
    const verb = to === 'approved' ? 'approve' : 'pay';
    let reason: string | null = null;
    if (current.createdBy === actorId) reason = to === 'approved' ? 'self-approval' : 'creator-pays';
    else if (to === 'paid' && !this.deps.approverMayPay && current.approvedBy === actorId) reason = 'approver-pays';
    if (!reason) return;
    await this.deps.audit.record({
      action: `invoice.${verb}`,
      outcome: 'denied',
      actorId,
      resource: 'invoice',
      resourceId: current._id,
      details: { reason },
    });
    throw AppError.forbidden(
      reason === 'approver-pays'
        ? 'You cannot pay an invoice you approved.'
        : `You cannot ${verb} an invoice you created.`,
      { reason },
    );
  }

  approve(scope: Scope, id: string, actorId: string, ifMatch?: IfMatch) {
    return this.transition(
      scope,
      id,
      actorId,
      'draft',
      'approved',
      { approvedBy: actorId, approvedAt: this.now() },
      ifMatch,
    );
  }

  pay(scope: Scope, id: string, actorId: string, ifMatch?: IfMatch) {
    return this.transition(scope, id, actorId, 'approved', 'paid', { paidAt: this.now() }, ifMatch);
  }
}

/** Only drafts may be edited or deleted: an approved or paid invoice is a record of what happened. */
function assertDraft(invoice: InvoiceDoc, action: 'edited' | 'deleted'): void {
  if (invoice.status !== 'draft') throw AppError.conflict(`Only draft invoices can be ${action}.`, 'invalid-state');
}
