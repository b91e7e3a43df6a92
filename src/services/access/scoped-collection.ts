import type { Model } from 'mongoose';
import { AppError } from '../../lib/errors';
import type { AuditTrail } from '../audit/audit-trail';
import type { AccessService } from './access.service';
import type { Scope, ScopeFields } from './access-scope';
import { versionOf, type Versioned } from '../versioning/versioned-writer';
import { applyReadPolicy, assertWritable, explainFields, type FieldExplanation } from './field-policy';

export interface PageQuery {
  page: number;
  limit: number;
  sort: string;
  order: 'asc' | 'desc';
}

/**
 * The access-controlled reads and the write check every resource service shares: loads
 * through the scope filter (404 outside it), lists with the filter in the query, shapes
 * every record through the field policy, and refuses (and audits) writes to fields the
 * caller may not write.
 */
export class ScopedCollection<T extends Versioned> {
  constructor(
    private readonly opts: {
      model: Model<T>;
      /** Key of FIELD_POLICY and name used in messages and audit entries. */
      resource: 'employees' | 'invoices';
      auditName: string;
      scopeFields: ScopeFields;
      access: AccessService;
      audit: AuditTrail;
    },
  ) {}

  private ctx(scope: Scope, doc: T) {
    return this.opts.access.fieldContext(scope, this.opts.scopeFields, doc as unknown as Record<string, unknown>);
  }

  /** The record as this caller may see it, with its `version` (the ETag; lists have no per-item headers). */
  view(scope: Scope, doc: T): Record<string, unknown> {
    return {
      ...applyReadPolicy(this.opts.resource, doc as unknown as Record<string, unknown>, this.ctx(scope, doc)),
      version: versionOf(doc),
    };
  }

  async load(scope: Scope, id: string): Promise<T> {
    const doc = (await this.opts.model
      .findOne({ _id: id, ...this.opts.access.filter(scope, this.opts.scopeFields) })
      .lean()) as T | null;
    // Out of scope and missing look the same: existence is not confirmed.
    if (!doc) throw AppError.notFound(`No such ${this.opts.auditName}.`);
    return doc;
  }

  async list(
    scope: Scope,
    q: PageQuery,
    where: Record<string, unknown>,
  ): Promise<{ items: Record<string, unknown>[]; total: number }> {
    const filter = { ...where, ...this.opts.access.filter(scope, this.opts.scopeFields) };
    const [docs, total] = await Promise.all([
      this.opts.model
        .find(filter)
        .sort({ [q.sort]: q.order === 'asc' ? 1 : -1, _id: 1 })
        .skip((q.page - 1) * q.limit)
        .limit(q.limit)
        .lean(),
      this.opts.model.countDocuments(filter),
    ]);
    return { items: (docs as T[]).map((d) => this.view(scope, d)), total };
  }

  async explain(scope: Scope, id: string): Promise<FieldExplanation[]> {
    return explainFields(this.opts.resource, this.ctx(scope, await this.load(scope, id)));
  }

  /** Loads the record in scope and refuses (403, audited) a change to any field the caller may not write. */
  async loadForWrite(scope: Scope, id: string, raw: Record<string, unknown>, actorId: string): Promise<T> {
    const current = await this.load(scope, id);
    try {
      assertWritable(this.opts.resource, raw, this.ctx(scope, current));
    } catch (err) {
      await this.opts.audit.record({
        action: `${this.opts.auditName}.update`,
        outcome: 'denied',
        actorId,
        resource: this.opts.auditName,
        resourceId: id,
        fields: Object.keys(raw),
      });
      throw err;
    }
    return current;
  }
}
