import type { Model } from 'mongoose';
import { AppError } from '../../lib/errors';
import { MARK_UNREADABLE, UNREADABLE } from '../encryption/field-encryption.plugin';
import type { AuditTrail } from '../audit/audit-trail';
import type { AccessPolicy, RecordScope, ScopeFields } from './access-policy';
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
 * through the policy's scope filter (404 outside it), lists with the filter in the query,
 * shapes every record through the field policy, and refuses (and audits) writes to fields
 * the caller may not write.
 */
export class ScopedCollection<T extends Versioned> {
  constructor(
    private readonly opts: {
      model: Model<T>;
      /** Key of FIELD_POLICY and name used in messages and audit entries. */
      resource: 'employees' | 'invoices';
      auditName: string;
      scopeFields: ScopeFields;
      policy: AccessPolicy;
      audit: AuditTrail;
    },
  ) {}

  private ctx(scope: RecordScope, doc: T) {
    return this.opts.policy.fieldContext(scope, this.opts.scopeFields, doc as unknown as Record<string, unknown>);
  }

  /** The record as this caller may see it, with its `version` (the ETag; lists have no per-item headers). */
  view(scope: RecordScope, doc: T): Record<string, unknown> {
    return {
      ...applyReadPolicy(this.opts.resource, doc as unknown as Record<string, unknown>, this.ctx(scope, doc)),
      version: versionOf(doc),
    };
  }

  async load(scope: RecordScope, id: string): Promise<T> {
    const doc = (await this.opts.model
      .findOne(this.opts.policy.restrict({ _id: id }, scope, this.opts.scopeFields))
      .lean()) as T | null;
    // Out of scope and missing look the same: existence is not confirmed.
    if (!doc) throw AppError.notFound(`No such ${this.opts.auditName}.`);
    return doc;
  }

  async list(
    scope: RecordScope,
    q: PageQuery,
    where: Record<string, unknown>,
  ): Promise<{ items: Record<string, unknown>[]; total: number }> {
    const filter = this.opts.policy.restrict(where, scope, this.opts.scopeFields);
    const [docs, total] = await Promise.all([
      this.opts.model
        .find(filter)
        .sort({ [q.sort]: q.order === 'asc' ? 1 : -1, _id: 1 })
        .skip((q.page - 1) * q.limit)
        .limit(q.limit)
        // One unreadable value must not sink the page: it comes back null and marked.
        .lean(MARK_UNREADABLE),
      this.opts.model.countDocuments(filter),
    ]);
    return { items: (docs as T[]).map((d) => this.listItem(scope, d)), total };
  }

  /** A list entry: the policy view, plus `_unreadable` naming the shown fields whose stored value failed to decrypt. */
  private listItem(scope: RecordScope, doc: T): Record<string, unknown> {
    const item = this.view(scope, doc);
    const unreadable = (doc as unknown as Record<string, unknown>)[UNREADABLE] as string[] | undefined;
    // A field the caller may not see is not mentioned either.
    const shown = unreadable?.filter((field) => field in item) ?? [];
    if (shown.length) item[UNREADABLE] = shown;
    return item;
  }

  /** The field rules for a record in scope, or null when it is missing or outside the scope (what a request gets as 404). */
  async explain(scope: RecordScope, id: string): Promise<FieldExplanation[] | null> {
    const doc = (await this.opts.model.findById(id).lean()) as T | null;
    if (!doc || !this.opts.policy.covers(scope, this.opts.scopeFields, doc as unknown as Record<string, unknown>))
      return null;
    return explainFields(this.opts.resource, this.ctx(scope, doc));
  }

  /** Loads the record in scope and refuses (403, audited) a change to any field the caller may not write. */
  async loadForWrite(scope: RecordScope, id: string, raw: Record<string, unknown>, actorId: string): Promise<T> {
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
