import type { Model } from 'mongoose';
import { AppError } from '../../lib/errors';
import { MARK_UNREADABLE, UNREADABLE } from '../encryption/field-encryption.plugin';
import type { AuditTrail } from '../audit/audit-trail';
import type { AccessPolicy, RecordScope, ScopeFields } from './access-policy';
import { versionOf, type Versioned, type VersionedWriter } from '../versioning/versioned-writer';
import { assertIfMatch, type IfMatch } from '../../lib/preconditions';
import { applyReadPolicy, assertWritable, explainFields, type FieldExplanation } from './field-policy';

export interface PageQuery {
  page: number;
  limit: number;
  sort: string;
  order: 'asc' | 'desc';
}

/**
 * The access-controlled reads and writes every resource service shares: loads through the
 * policy's scope filter (404 outside it), lists with the filter in the query, shapes every
 * record through the field policy, refuses (and audits) writes to fields the caller may not
 * write, and edits and deletes through the versioned writer (one winner per version).
 */
export class ScopedCollection<T extends Versioned> {
  constructor(
    private readonly opts: {
      model: Model<T>;
      /** Key of FIELD_POLICY and name used in messages and audit entries. */
      resource: 'employees' | 'invoices';
      auditName: string;
      scopeFields: ScopeFields;
      /** What the record is called in messages ("invoice", "employee record"). */
      label: string;
      policy: AccessPolicy;
      audit: AuditTrail;
      writer: VersionedWriter;
      /** Told of a read that missed because the record lies outside the caller's scope (throttled security events). */
      onOutOfScope?: (e: { resource: string; resourceId: string }) => Promise<void>;
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
    if (!doc) {
      // Out of scope and missing look the same to the caller (existence is not confirmed);
      // a record that exists outside the scope is a security event all the same.
      if (scope.kind !== 'any' && this.opts.onOutOfScope && (await this.opts.model.exists({ _id: id })))
        await this.opts.onOutOfScope({ resource: this.opts.resource, resourceId: id });
      throw AppError.notFound(`No such ${this.opts.auditName}.`);
    }
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

  async get(scope: RecordScope, id: string): Promise<Record<string, unknown>> {
    return this.view(scope, await this.load(scope, id));
  }

  /**
   * An edit: field rules (403), If-Match (412), `parse` of the values (400), then `check`
   * of the record's own rules (e.g. 409 for a wrong state), all before anything is written;
   * the versioned write and its audit entry happen only for the winner.
   */
  async update(
    scope: RecordScope,
    id: string,
    edit: {
      raw: Record<string, unknown>;
      actorId: string;
      parse: (body: unknown) => Record<string, unknown>;
      ifMatch?: IfMatch;
      check?: (current: T) => void;
    },
  ): Promise<Record<string, unknown>> {
    const current = await this.loadForWrite(scope, id, edit.raw, edit.actorId);
    assertIfMatch(edit.ifMatch, versionOf(current), this.opts.label);
    const changes = edit.parse(edit.raw);
    edit.check?.(current);
    const updated = await this.opts.writer.update(this.opts.model, current, changes, this.opts.label);
    await this.opts.audit.record({
      action: `${this.opts.auditName}.updated`,
      outcome: 'succeeded',
      actorId: edit.actorId,
      resource: this.opts.auditName,
      resourceId: id,
      fields: Object.keys(changes),
    });
    return this.view(scope, updated);
  }

  /** A delete: If-Match (412) and `check` first, then the versioned removal and its audit entry. */
  async remove(
    scope: RecordScope,
    id: string,
    del: { actorId: string; ifMatch?: IfMatch; check?: (current: T) => void },
  ): Promise<void> {
    const current = await this.load(scope, id);
    assertIfMatch(del.ifMatch, versionOf(current), this.opts.label);
    del.check?.(current);
    await this.opts.writer.remove(this.opts.model, current, this.opts.label);
    await this.opts.audit.record({
      action: `${this.opts.auditName}.deleted`,
      outcome: 'succeeded',
      actorId: del.actorId,
      resource: this.opts.auditName,
      resourceId: id,
    });
  }
}

/** What every record service shares: its scoped collection and the plain reads through it. */
export abstract class ScopedRecordService<T extends Versioned> {
  protected constructor(protected readonly records: ScopedCollection<T>) {}

  get(scope: RecordScope, id: string): Promise<Record<string, unknown>> {
    return this.records.get(scope, id);
  }

  /** The field rules for a record in scope, or null when a read would answer 404 (access explain). */
  explain(scope: RecordScope, id: string): Promise<FieldExplanation[] | null> {
    return this.records.explain(scope, id);
  }

  /** `parse` validates the values (400) once the field rules allowed the keys (403 otherwise); nothing is written before both pass. */
  update(
    scope: RecordScope,
    id: string,
    raw: Record<string, unknown>,
    actorId: string,
    parse: (body: unknown) => Record<string, unknown>,
    ifMatch?: IfMatch,
  ): Promise<Record<string, unknown>> {
    return this.records.update(scope, id, { raw, actorId, parse, ifMatch, check: (c) => this.assertEditable(c) });
  }

  remove(scope: RecordScope, id: string, actorId: string, ifMatch?: IfMatch): Promise<void> {
    return this.records.remove(scope, id, { actorId, ifMatch, check: (c) => this.assertRemovable(c) });
  }

  /** The record's own rules for an edit (e.g. its state); none by default. */
  protected assertEditable(_current: T): void {}

  /** The record's own rules for a delete; none by default. */
  protected assertRemovable(_current: T): void {}
}
