import { createHash } from 'node:crypto';
import type { AuditCounterModel, AuditEventDoc, AuditEventModel, AuditOutcome } from '../../models/audit-event.model';
import { currentRequestContext } from '../../lib/request-context';
import type { Logger } from '../../lib/logger';

export interface AuditInput {
  action: string;
  outcome: AuditOutcome;
  actorId?: string | null;
  actorRole?: string | null;
  resource?: string | null;
  resourceId?: string | null;
  fields?: string[];
  details?: Record<string, unknown>;
  /** Defaults come from the request context (ip, user agent, request id). */
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export interface ChainVerification {
  intact: boolean;
  checked: number;
  /** Highest position ever appended, from the counter document. */
  headSeq: number;
  /** First position where the chain breaks, and why. */
  breakAt?: { seq: number; reason: 'missing' | 'hash-mismatch' | 'link-mismatch' };
}

export const GENESIS_HASH = '0'.repeat(64);
const COUNTER_ID = 'audit';

const isDuplicateKey = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
const MAX_ATTEMPTS = 500;

type Hashed = Omit<AuditEventDoc, 'hash'>;
/** The end of the chain: the position and hash the next entry links to. */
type ChainHead = Pick<AuditEventDoc, 'seq' | 'hash'>;

/** The hash covers every stored field in a fixed order, plus the previous entry's hash. */
export function hashEntry(e: Hashed): string {
  const canonical = JSON.stringify([
    e.seq,
    e.at.toISOString(),
    e.actorId,
    e.actorRole,
    e.action,
    e.resource,
    e.resourceId,
    e.outcome,
    e.fields,
    canonicalize(e.details),
    e.ip,
    e.userAgent,
    e.requestId,
    e.prevHash,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** Object keys sorted recursively, so the hash does not depend on key order after a round trip. */
function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, canonicalize((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export interface AuditTrailDeps {
  events: AuditEventModel;
  counters: AuditCounterModel;
  logger: Logger;
  now?: () => Date;
}

/**
 * Append-only, tamper-evident audit trail. The order is decided in MongoDB, never in
 * process memory: unique indexes on `seq` and `prevHash` let exactly one writer extend
 * a given head (an atomic single-document insert), so any number of processes can
 * append and the chain stays linear; a counter document keeps the high-water mark.
 * Editing or deleting any entry breaks verification at that position.
 */
export class AuditTrail {
  private readonly now: () => Date;

  /**
   * Where this process last saw the end of the chain: only a starting point (another
   * process may have appended since); point lookups by _id walk forward from it, so an
   * append costs O(1) reads instead of a sort over the whole trail.
   */
  private head: ChainHead | undefined;
  /** This process's appends, one after another (see record()). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: AuditTrailDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The newest entry at or after `from`, by point lookups of the following positions. */
  private async followFrom(from: ChainHead): Promise<ChainHead> {
    let head = from;
    for (;;) {
      const next = await this.deps.events.findById(head.seq + 1, { seq: 1, hash: 1 }).lean();
      if (!next) return head;
      head = { seq: next.seq, hash: next.hash };
    }
  }

  /**
   * Cold start: begin at the counter's high-water mark. If the entry there is gone (cut from
   * the end), never reuse its position: the next entry goes after the mark, linked to the
   * newest entry left, so verify() reports the gap instead of a chain that looks whole.
   */
  private async findHead(): Promise<ChainHead> {
    const mark = (await this.deps.counters.findById(COUNTER_ID).lean())?.seq ?? 0;
    if (mark === 0) return this.followFrom({ seq: 0, hash: GENESIS_HASH });
    const atMark = await this.deps.events.findById(mark, { seq: 1, hash: 1 }).lean();
    if (atMark) return this.followFrom({ seq: atMark.seq, hash: atMark.hash });
    const last = await this.deps.events.findOne({}, { seq: 1, hash: 1 }).sort({ seq: -1 }).lean();
    if (last && last.seq > mark) return this.followFrom({ seq: last.seq, hash: last.hash });
    return { seq: mark, hash: last?.hash ?? GENESIS_HASH };
  }

  /**
   * Appends of one process go one at a time: racing each other for the same position would
   * only cost failed inserts. Processes still race, and the unique keys decide between them.
   */
  record(input: AuditInput): Promise<AuditEventDoc> {
    // Read the request context now: the queued append runs outside this request's async scope.
    const ctx = currentRequestContext();
    const queued = this.queue.then(() => this.append(input, ctx));
    this.queue = queued.catch(() => undefined);
    return queued;
  }

  private async append(input: AuditInput, ctx: ReturnType<typeof currentRequestContext>): Promise<AuditEventDoc> {
    const base = {
      at: this.now(),
      actorId: input.actorId ?? ctx?.userId ?? null,
      // The caller's role from the request, unless the entry is about someone else's action.
      actorRole:
        input.actorRole ??
        (input.actorId === undefined || input.actorId === ctx?.userId ? (ctx?.userRole ?? null) : null),
      action: input.action,
      resource: input.resource ?? null,
      resourceId: input.resourceId ?? null,
      outcome: input.outcome,
      fields: [...(input.fields ?? [])].sort(),
      details: input.details ?? {},
      ip: input.ip ?? ctx?.ip ?? null,
      userAgent: input.userAgent ?? ctx?.userAgent ?? null,
      requestId: input.requestId ?? ctx?.requestId ?? null,
    };
    const { counters, events } = this.deps;
    let head = this.head ?? (await this.findHead());
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry: Hashed = { ...base, seq: head.seq + 1, prevHash: head.hash };
      const doc: AuditEventDoc = { ...entry, hash: hashEntry(entry) };
      try {
        // The unique _id (= seq) and prevHash make this insert the atomic step: of two
        // writers that read the same head, exactly one links to it; the other moves on.
        await events.create({ ...doc, _id: doc.seq });
      } catch (err) {
        if (isDuplicateKey(err)) {
          // Someone else took this position: follow the chain forward to the new head.
          head = await this.followFrom(head);
          if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt)));
          continue;
        }
        throw err;
      }
      this.head = { seq: doc.seq, hash: doc.hash };
      // High-water mark of handed-out positions: reveals entries cut from the end of the chain.
      await counters.updateOne({ _id: COUNTER_ID }, { $max: { seq: doc.seq } }, { upsert: true });
      return doc;
    }
    this.deps.logger.error({ action: input.action }, 'audit append gave up after contention');
    throw new Error('could not append to the audit trail');
  }

  /** Newest first, filtered; entries are returned as stored (they hold names and ids, never secret values). */
  async list(q: {
    page: number;
    limit: number;
    action?: string;
    actorId?: string;
    resource?: string;
    resourceId?: string;
    outcome?: string;
    from?: Date;
    to?: Date;
  }) {
    const filter: Record<string, unknown> = {};
    for (const k of ['action', 'actorId', 'resource', 'resourceId', 'outcome'] as const)
      if (q[k] !== undefined) filter[k] = q[k];
    if (q.from || q.to) filter.at = { ...(q.from ? { $gte: q.from } : {}), ...(q.to ? { $lte: q.to } : {}) };
    const [items, total] = await Promise.all([
      this.deps.events
        .find(filter, { _id: 0 })
        .sort({ seq: -1 })
        .skip((q.page - 1) * q.limit)
        .limit(q.limit)
        .lean(),
      this.deps.events.countDocuments(filter),
    ]);
    return { items, page: q.page, limit: q.limit, total };
  }

  /** Recomputes the chain in seq order; reports the first break. Streams, so memory stays flat. */
  async verify(): Promise<ChainVerification> {
    const head = await this.deps.counters.findById(COUNTER_ID).lean();
    const headSeq = head?.seq ?? 0;
    let expectedSeq = 1;
    let prevHash = GENESIS_HASH;
    let checked = 0;
    const cursor = this.deps.events.find().sort({ seq: 1 }).lean().cursor();
    try {
      for await (const raw of cursor) {
        const e = raw as AuditEventDoc;
        if (e.seq !== expectedSeq)
          return { intact: false, checked, headSeq, breakAt: { seq: expectedSeq, reason: 'missing' } };
        if (e.prevHash !== prevHash)
          return { intact: false, checked, headSeq, breakAt: { seq: e.seq, reason: 'link-mismatch' } };
        if (hashEntry(e) !== e.hash)
          return { intact: false, checked, headSeq, breakAt: { seq: e.seq, reason: 'hash-mismatch' } };
        prevHash = e.hash;
        expectedSeq++;
        checked++;
      }
    } finally {
      await cursor.close();
    }
    // Entries cut from the end are caught by the high-water mark.
    if (headSeq > checked) return { intact: false, checked, headSeq, breakAt: { seq: checked + 1, reason: 'missing' } };
    return { intact: true, checked, headSeq };
  }
}
