import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import type { AuditCounterModel, AuditEventDoc, AuditEventModel, AuditOutcome } from '../../models/audit-event.model';
import { currentRequestContext } from '../../lib/request-context';
import type { Logger } from '../../lib/logger';
import type { RedisClient } from '../../lib/redis';

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

export type ChainBreakReason =
  /** A position is absent (deleted entry, or cut from the end below the counter's mark). */
  | 'missing'
  /** An entry's MAC does not match its content: edited, or written without the key. */
  | 'hash-mismatch'
  /** An entry does not link to the one before it (relinked or reordered). */
  | 'link-mismatch'
  /** An entry names a key id not in AUDIT_HMAC_KEYS (retired too early, forged, or written before keying). */
  | 'unknown-key'
  /** The external head is further than the trail: entries were cut from the end. */
  | 'truncated'
  /** The external head names an entry whose hash differs: the trail was rewritten after it. */
  | 'head-mismatch'
  /** Entries exist but no external head does (deleted, or Redis lost its data): the end cannot be confirmed. */
  | 'head-missing'
  /** The external head's own MAC is wrong or its key unknown: it was forged or damaged. */
  | 'head-invalid'
  /** The external head could not be read (Redis down): the end cannot be confirmed. */
  | 'head-unavailable';

export interface ChainVerification {
  intact: boolean;
  checked: number;
  /** Highest position ever appended, from the counter document. */
  headSeq: number;
  /** The position the external (Redis) head vouches for, when it could be read and verified. */
  externalHeadSeq?: number;
  /** First position where the chain breaks, and why. */
  breakAt?: { seq: number; reason: ChainBreakReason };
}

export const GENESIS_HASH = '0'.repeat(64);
const COUNTER_ID = 'audit';

const isDuplicateKey = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
const MAX_ATTEMPTS = 500;

type Hashed = Omit<AuditEventDoc, 'hash'>;
/** The end of the chain: the position and hash the next entry links to. */
type ChainHead = Pick<AuditEventDoc, 'seq' | 'hash'>;

/**
 * The end of the chain as last published outside the database, signed with an audit
 * key under its own label (so no entry's MAC can pass for a head's).
 */
export interface SignedHead {
  seq: number;
  hash: string;
  keyId: string;
  mac: string;
}

/** Where the head is kept outside MongoDB. advance() only ever moves it forward. */
export interface AuditHeadStore {
  read(): Promise<SignedHead | null>;
  /** Stores `head` unless the stored head is already at or past its position. */
  advance(head: SignedHead): Promise<void>;
}

/** Compare-and-set on the position, in one step, so racing processes never move the head back. */
const ADVANCE_HEAD = `
local current = redis.call('GET', KEYS[1])
if current then
  local seq = tonumber(string.match(current, '^(%d+):'))
  if seq and seq >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

/**
 * The head in Redis, `<seq>:<hash>:<keyId>:<mac>`, without TTL: the database's own
 * counter can be rewound by whoever can write the database; this copy is out of their reach.
 */
export class RedisAuditHead implements AuditHeadStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly key = 'audit:head',
  ) {}

  async read(): Promise<SignedHead | null> {
    const raw = await this.redis.get(this.key);
    if (raw === null) return null;
    const [seq, hash, keyId, mac] = raw.split(':');
    // A malformed value reads as a head whose MAC cannot match (verify reports head-invalid).
    return { seq: Number(seq), hash: hash ?? '', keyId: keyId ?? '', mac: mac ?? '' };
  }

  async advance(head: SignedHead): Promise<void> {
    const value = `${head.seq}:${head.hash}:${head.keyId}:${head.mac}`;
    await this.redis.eval(ADVANCE_HEAD, 1, this.key, value, String(head.seq));
  }
}

/** The MAC covers every stored field in a fixed order, the entry's key id and the previous entry's hash. */
export function macEntry(e: Hashed, key: KeyObject): string {
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
    e.keyId,
  ]);
  return createHmac('sha256', key).update('erp audit entry v2\u0000').update(canonical).digest('hex');
}

function macHead(seq: number, hash: string, key: KeyObject): string {
  return createHmac('sha256', key).update(`erp audit head v1\u0000${seq}\u0000${hash}`).digest('hex');
}

/** Constant-time comparison of two hex MACs. */
function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
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
  /** AUDIT_HMAC_KEYS: every key that may have signed an entry; `activeKeyId` signs new ones. */
  keys: Array<{ id: string; key: Buffer }>;
  activeKeyId: string;
  /** The head kept outside the database (Redis), so a cut tail is detected. */
  head: AuditHeadStore;
  logger: Logger;
  now?: () => Date;
  /** Told when verify() finds the chain broken (the AlertService raises a critical alert). Must not throw. */
  onChainBroken?: (verification: ChainVerification) => void;
}

/**
 * Append-only, tamper-evident audit trail. Each entry carries an HMAC-SHA256 (key from
 * AUDIT_HMAC_KEYS, id stored per entry so keys rotate) over its content and the previous
 * entry's MAC: without the key, nobody with database access can edit, insert or re-chain
 * entries unnoticed. The order is decided in MongoDB, never in process memory: unique
 * indexes on `seq` and `prevHash` let exactly one writer extend a given head (an atomic
 * single-document insert), so any number of processes can append and the chain stays
 * linear. A counter document keeps the high-water mark, and a signed copy of the head
 * lives in Redis, out of the database's reach, so a cut tail is detected even when the
 * counter is rewound too.
 */
export class AuditTrail {
  private readonly now: () => Date;
  private readonly keys: Map<string, KeyObject>;

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
    // Held as KeyObjects only: printing the service shows no key bytes.
    this.keys = new Map(deps.keys.map((k) => [k.id, createSecretKey(k.key)]));
    if (!this.keys.has(deps.activeKeyId)) throw new Error(`audit: active key ${deps.activeKeyId} is not in the ring`);
  }

  [inspect.custom](): string {
    return `AuditTrail(keys ${[...this.keys.keys()].join(', ')}; active ${this.deps.activeKeyId})`;
  }

  private get activeKey(): { id: string; key: KeyObject } {
    return { id: this.deps.activeKeyId, key: this.keys.get(this.deps.activeKeyId) as KeyObject };
  }

  /** The external head as stored (null when absent), and whether its MAC verifies under a known key. */
  private async externalHead(): Promise<{ head: SignedHead | null; valid: boolean }> {
    const head = await this.deps.head.read();
    if (!head) return { head: null, valid: false };
    const key = this.keys.get(head.keyId);
    const valid =
      key !== undefined && Number.isSafeInteger(head.seq) && sameMac(macHead(head.seq, head.hash, key), head.mac);
    return { head, valid };
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
   * Cold start: begin at the high-water mark (the counter's, or the external head's if further).
   * If the entry there is gone (cut from the end), never reuse its position: the next entry goes after the mark, linked to the
   * newest entry left, so verify() reports the gap instead of a chain that looks whole.
   */
  private async findHead(): Promise<ChainHead> {
    const counted = (await this.deps.counters.findById(COUNTER_ID).lean())?.seq ?? 0;
    // The signed external head is a mark too: positions up to it are never handed out again,
    // even if the counter document was rewound along with a cut tail.
    const external = await this.externalHead().catch(() => ({ head: null, valid: false }));
    const mark = Math.max(counted, external.valid && external.head ? external.head.seq : 0);
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
    const { id: keyId, key } = this.activeKey;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry: Hashed = { ...base, seq: head.seq + 1, prevHash: head.hash, keyId };
      const doc: AuditEventDoc = { ...entry, hash: macEntry(entry, key) };
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
      await this.publishHead(doc);
      return doc;
    }
    this.deps.logger.error({ action: input.action }, 'audit append gave up after contention');
    throw new Error('could not append to the audit trail');
  }

  /**
   * Signs the new end of the chain and moves the external head to it. If Redis is down the
   * entry stands (the trail must not fail the request it records); the head lags, and
   * entries past it are only protected by the counter until the next append publishes.
   */
  private async publishHead(doc: ChainHead): Promise<void> {
    const { id, key } = this.activeKey;
    try {
      await this.deps.head.advance({ seq: doc.seq, hash: doc.hash, keyId: id, mac: macHead(doc.seq, doc.hash, key) });
    } catch (err) {
      this.deps.logger.error({ err, seq: doc.seq }, 'audit head could not be published outside the database');
    }
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

  /**
   * Recomputes the chain in seq order and reports the first break; then checks the end
   * against the counter and the signed external head. Streams, so memory stays flat.
   */
  async verify(): Promise<ChainVerification> {
    // Both marks are read before the walk: entries appended meanwhile only extend past them.
    const headSeq = (await this.deps.counters.findById(COUNTER_ID).lean())?.seq ?? 0;
    let external: { head: SignedHead | null; valid: boolean } | 'unavailable';
    try {
      external = await this.externalHead();
    } catch (err) {
      this.deps.logger.error({ err }, 'audit head could not be read');
      external = 'unavailable';
    }
    const vouched = external !== 'unavailable' && external.valid ? external.head : null;
    const result = (checked: number, breakAt?: ChainVerification['breakAt']): ChainVerification => {
      const verification: ChainVerification = {
        intact: breakAt === undefined,
        checked,
        headSeq,
        ...(vouched ? { externalHeadSeq: vouched.seq } : {}),
        ...(breakAt ? { breakAt } : {}),
      };
      if (breakAt) this.deps.onChainBroken?.(verification);
      return verification;
    };
    let expectedSeq = 1;
    let prevHash = GENESIS_HASH;
    let checked = 0;
    let hashAtVouched: string | undefined;
    const cursor = this.deps.events.find().sort({ seq: 1 }).lean().cursor();
    try {
      for await (const raw of cursor) {
        const e = raw as AuditEventDoc;
        if (e.seq !== expectedSeq) return result(checked, { seq: expectedSeq, reason: 'missing' });
        if (e.prevHash !== prevHash) return result(checked, { seq: e.seq, reason: 'link-mismatch' });
        const key = this.keys.get(e.keyId);
        if (!key) return result(checked, { seq: e.seq, reason: 'unknown-key' });
        if (typeof e.hash !== 'string' || !sameMac(macEntry(e, key), e.hash))
          return result(checked, { seq: e.seq, reason: 'hash-mismatch' });
        if (vouched && e.seq === vouched.seq) hashAtVouched = e.hash;
        prevHash = e.hash;
        expectedSeq++;
        checked++;
      }
    } finally {
      await cursor.close();
    }
    // Entries cut from the end are caught by the counter's high-water mark...
    if (headSeq > checked) return result(checked, { seq: checked + 1, reason: 'missing' });
    // ...and, when the counter was rewound as well, by the head kept outside the database.
    if (external === 'unavailable') return result(checked, { seq: checked, reason: 'head-unavailable' });
    if (!external.head) return checked === 0 ? result(0) : result(checked, { seq: checked, reason: 'head-missing' });
    if (!vouched) return result(checked, { seq: checked, reason: 'head-invalid' });
    if (vouched.seq > checked) return result(checked, { seq: checked + 1, reason: 'truncated' });
    if (vouched.seq > 0 && hashAtVouched !== vouched.hash)
      return result(checked, { seq: vouched.seq, reason: 'head-mismatch' });
    return result(checked);
  }
}
