import type { Db, Document, ObjectId } from 'mongodb';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { aadFor, type EncryptedFieldRegistry } from './field-encryption.plugin';
import { DecryptionError } from './cipher';
import type { AuditTrail } from '../audit/audit-trail';

/** What rotation needs from the EncryptionService. */
export interface RotatingCipher {
  readonly activeKeyId: string;
  keyIdOf(stored: string): string;
  reEncrypt(stored: string, aad?: string): string;
}

export interface RotationProgress {
  collection: string;
  scanned: number;
  reEncrypted: number;
  /** Values in this collection that could not be decrypted and were left as they are. */
  skipped: number;
  lastId: ObjectId | null;
  done: boolean;
}

/**
 * running: in progress (or its process died: POST again to resume);
 * interrupted: stopped at shutdown, resumable;
 * failed: stopped by an error (`error`), resumable once the cause is fixed;
 * finished: every value is under the target key;
 * finished-with-errors: done, but `skipped` values could not be decrypted and keep their old key.
 */
export type RotationStatus = 'running' | 'interrupted' | 'failed' | 'finished' | 'finished-with-errors';

/** A stored value rotation could not decrypt: where it is, never what it holds. */
export interface SkippedValue {
  collection: string;
  id: string;
  path: string;
}

/** How many skipped values a report lists by position (the count is always exact). */
export const MAX_SKIPPED_LISTED = 100;

export interface RotationReport {
  targetKeyId: string;
  status: RotationStatus;
  startedAt: Date;
  finishedAt: Date | null;
  /** One line: why the run stopped (status `failed`), else null. */
  error: string | null;
  /** The first MAX_SKIPPED_LISTED values left undecryptable. */
  skipped: SkippedValue[];
  skippedCount: number;
  collections: RotationProgress[];
}

interface RotationStateDoc extends Document {
  _id: string;
  targetKeyId: string;
  status: RotationStatus;
  startedAt: Date;
  finishedAt: Date | null;
  error?: string | null;
  skipped?: SkippedValue[];
  skippedCount?: number;
  collections: RotationProgress[];
}

export interface KeyRotationDeps {
  /** The connected database (resolved per call: the connection opens after construction). */
  db: () => Db;
  cipher: RotatingCipher;
  registry: EncryptedFieldRegistry;
  logger: Logger;
  /** Records rotation started/finished; absent only in unit tests of the mechanics. */
  audit?: Pick<AuditTrail, 'record'>;
  batchSize?: number;
  now?: () => Date;
}

const STATE_ID = 'current';
/** Runs that are over: a new rotate() starts afresh rather than resuming them. */
const ENDED: readonly RotationStatus[] = ['finished', 'finished-with-errors'];
/** Reads a dotted path (`mfa.totpSecret`) from a raw document. */
const valueAt = (doc: Document, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>(
      (v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
      doc,
    );
const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const newProgress = (collection: string): RotationProgress => ({
  collection,
  scanned: 0,
  reEncrypted: 0,
  skipped: 0,
  lastId: null,
  done: false,
});
/** One line, bounded: enough for an operator to act on, never a stack. */
const summarise = (err: unknown): string =>
  (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).replace(/\s+/g, ' ').slice(0, 300);

/**
 * Re-encrypts every encrypted field under the active key, in batches ordered by _id,
 * checkpointing after each batch so an interrupted run resumes where it stopped (and
 * picks up collections registered since it began). Each value is swapped with an update
 * conditioned on its old ciphertext, so a concurrent write (already under the active key)
 * is never overwritten. A value that cannot be decrypted is skipped and reported (the run
 * ends `finished-with-errors`); any other error stops the run as `failed`, with the
 * reason and the counts so far in the status. Reads keep working throughout because old
 * keys stay in the ring until retired.
 *
 * It also runs the background job `POST /encryption/rotation` starts (start(), stop()),
 * one per process, so the HTTP route stays thin and shutdown can wait for it.
 */
export class KeyRotation {
  private readonly batchSize: number;
  private readonly now: () => Date;
  private job: { done: Promise<void>; abort: AbortController } | null = null;
  private stopped = false;

  constructor(private readonly deps: KeyRotationDeps) {
    this.batchSize = deps.batchSize ?? 500;
    this.now = deps.now ?? (() => new Date());
  }

  private get state() {
    return this.deps.db().collection<RotationStateDoc>('key_rotations');
  }

  async status(): Promise<RotationReport | null> {
    const s = await this.state.findOne({ _id: STATE_ID });
    return s ? toReport(s) : null;
  }

  /** Whether this process is running a background rotation now. */
  get runningHere(): boolean {
    return this.job !== null;
  }

  /**
   * Starts (or resumes) a rotation in the background unless this process already runs one
   * (false) or is shutting down. Its outcome, failures included, is in status().
   */
  start(opts: { actorId?: string } = {}): boolean {
    if (this.job || this.stopped) return false;
    const abort = new AbortController();
    const done = this.rotate({ ...opts, signal: abort.signal }).then(
      () => undefined,
      // rotate() has written the failure into the status already; the log keeps the stack.
      (err: unknown) => this.deps.logger.error({ err }, 'key rotation failed; see its status, POST again to resume'),
    );
    this.job = { done, abort };
    void done.finally(() => {
      if (this.job?.done === done) this.job = null;
    });
    return true;
  }

  /** Resolves once no background rotation runs in this process. */
  async idle(): Promise<void> {
    await this.job?.done;
  }

  /** Shutdown: the background run stops after its current batch (status `interrupted`, resumable); waits for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.job?.abort.abort();
    await this.idle();
  }

  /** Starts a rotation to the active key, or resumes the unfinished one. */
  async rotate(
    opts: {
      maxBatches?: number;
      onProgress?: (p: RotationProgress) => void;
      actorId?: string;
      /** Aborted: stop after the current batch, status `interrupted`. */
      signal?: AbortSignal;
    } = {},
  ): Promise<RotationReport> {
    const target = this.deps.cipher.activeKeyId;
    let state = await this.state.findOne({ _id: STATE_ID });
    if (!state || ENDED.includes(state.status) || state.targetKeyId !== target) {
      state = {
        _id: STATE_ID,
        targetKeyId: target,
        status: 'running',
        startedAt: this.now(),
        finishedAt: null,
        error: null,
        skipped: [],
        skippedCount: 0,
        collections: [...this.deps.registry.collections.keys()].map(newProgress),
      };
      await this.state.replaceOne({ _id: STATE_ID }, state, { upsert: true });
      this.deps.logger.info({ targetKeyId: target }, 'encryption key rotation started');
      await this.deps.audit?.record({
        action: 'encryption.rotation.started',
        outcome: 'succeeded',
        actorId: opts.actorId,
        resource: 'encryption-key',
        resourceId: target,
      });
    } else {
      // Resuming: collections registered since the run began (a new model) are visited too.
      for (const collection of this.deps.registry.collections.keys())
        if (!state.collections.some((c) => c.collection === collection))
          state.collections.push(newProgress(collection));
      for (const c of state.collections) c.skipped ??= 0;
      state.status = 'running';
      state.error = null;
      state.finishedAt = null;
      state.skipped ??= [];
      state.skippedCount ??= 0;
      await this.save(state);
      this.deps.logger.info({ targetKeyId: target }, 'encryption key rotation resumed');
    }
    const run = state;
    try {
      let batches = 0;
      for (const progress of run.collections) {
        const fields = this.deps.registry.collections.get(progress.collection) ?? [];
        while (!progress.done) {
          if (opts.maxBatches !== undefined && batches >= opts.maxBatches) return toReport(run);
          if (opts.signal?.aborted) {
            run.status = 'interrupted';
            await this.save(run);
            this.deps.logger.warn(
              { targetKeyId: target },
              'encryption key rotation interrupted; it resumes when started again',
            );
            return toReport(run);
          }
          await this.rotateBatch(run, progress, fields, target);
          batches++;
          await this.save(run);
          opts.onProgress?.({ ...progress });
        }
      }
    } catch (err) {
      await this.fail(run, err, opts.actorId);
      throw err;
    }
    run.status = run.skippedCount ? 'finished-with-errors' : 'finished';
    run.finishedAt = this.now();
    await this.save(run);
    const totals = run.collections.reduce(
      (a, c) => ({ scanned: a.scanned + c.scanned, reEncrypted: a.reEncrypted + c.reEncrypted }),
      { scanned: 0, reEncrypted: 0 },
    );
    const log = { targetKeyId: target, collections: run.collections, skippedCount: run.skippedCount };
    if (run.skippedCount)
      this.deps.logger.error(log, 'encryption key rotation finished; some values could not be decrypted');
    else this.deps.logger.info(log, 'encryption key rotation finished');
    await this.deps.audit?.record({
      action: 'encryption.rotation.finished',
      outcome: run.skippedCount ? 'failed' : 'succeeded',
      actorId: opts.actorId,
      resource: 'encryption-key',
      resourceId: target,
      details: { ...totals, skipped: run.skippedCount ?? 0 },
    });
    return toReport(run);
  }

  private async save(s: RotationStateDoc): Promise<void> {
    const { _id, ...fields } = s;
    void _id;
    await this.state.updateOne({ _id: STATE_ID }, { $set: fields });
  }

  /** Makes the failure visible: status `failed`, its reason and the counts so far (best effort: the database may be the cause). */
  private async fail(s: RotationStateDoc, err: unknown, actorId: string | undefined): Promise<void> {
    s.status = 'failed';
    s.error = summarise(err);
    s.finishedAt = this.now();
    this.deps.logger.error({ err, targetKeyId: s.targetKeyId }, 'encryption key rotation failed');
    try {
      await this.save(s);
      await this.deps.audit?.record({
        action: 'encryption.rotation.failed',
        outcome: 'failed',
        actorId,
        resource: 'encryption-key',
        resourceId: s.targetKeyId,
        details: { error: s.error },
      });
    } catch (saveErr) {
      this.deps.logger.error({ err: saveErr }, 'could not record the key rotation failure');
    }
  }

  private async rotateBatch(
    run: RotationStateDoc,
    progress: RotationProgress,
    fields: string[],
    target: string,
  ): Promise<void> {
    const coll = this.deps.db().collection(progress.collection);
    const filter = progress.lastId === null ? {} : { _id: { $gt: progress.lastId } };
    const projection = Object.fromEntries(fields.map((f) => [f, 1]));
    const docs = await coll.find(filter, { projection }).sort({ _id: 1 }).limit(this.batchSize).toArray();
    for (const doc of docs) {
      const $set: Record<string, string> = {};
      const cond: Record<string, unknown> = { _id: doc._id };
      for (const field of fields) {
        const value = valueAt(doc, field);
        if (typeof value !== 'string') continue;
        try {
          if (this.deps.cipher.keyIdOf(value) === target) continue;
          $set[field] = this.deps.cipher.reEncrypt(value, aadFor(progress.collection, doc._id, field));
        } catch (err) {
          // One bad value must not stop the run: it keeps its old key and is reported.
          if (!(err instanceof DecryptionError)) throw err;
          this.skip(run, progress, { collection: progress.collection, id: String(doc._id), path: field });
          continue;
        }
        cond[field] = value;
      }
      if (Object.keys($set).length) {
        const res = await coll.updateOne(cond, { $set });
        if (res.modifiedCount === 1) progress.reEncrypted++;
      }
      progress.scanned++;
      progress.lastId = doc._id as ObjectId;
    }
    if (docs.length < this.batchSize) progress.done = true;
  }

  private skip(run: RotationStateDoc, progress: RotationProgress, value: SkippedValue): void {
    progress.skipped++;
    run.skippedCount = (run.skippedCount ?? 0) + 1;
    run.skipped ??= [];
    if (run.skipped.length < MAX_SKIPPED_LISTED) run.skipped.push(value);
    // Logged once and handed to the alerting hook, like an unreadable value met by a read.
    this.deps.registry.reportUndecryptable(value);
  }

  /** How many stored values each key id encrypts, over every registered collection and field. */
  async keyUsage(keyIds: string[]): Promise<Record<string, number>> {
    const usage: Record<string, number> = {};
    for (const keyId of keyIds) {
      let n = 0;
      for (const [collection, fields] of this.deps.registry.collections) {
        const prefix = new RegExp(`^v1\\.${escapeRegex(keyId)}\\.`);
        n += await this.deps
          .db()
          .collection(collection)
          .countDocuments({ $or: fields.map((f) => ({ [f]: prefix })) });
      }
      usage[keyId] = n;
    }
    return usage;
  }

  /** Refuses (409) to retire a key that still encrypts data. */
  async assertRetirable(keyId: string): Promise<void> {
    if (keyId === this.deps.cipher.activeKeyId)
      throw AppError.conflict(`Key ${keyId} is the active key and cannot be retired.`, 'key-in-use');
    const n = (await this.keyUsage([keyId]))[keyId];
    if (n > 0) throw AppError.conflict(`Key ${keyId} still encrypts ${n} documents; rotate first.`, 'key-in-use');
  }
}

function toReport(s: RotationStateDoc): RotationReport {
  return {
    targetKeyId: s.targetKeyId,
    status: s.status,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    error: s.error ?? null,
    skipped: s.skipped ?? [],
    skippedCount: s.skippedCount ?? 0,
    collections: s.collections.map((c) => ({ ...c, skipped: c.skipped ?? 0 })),
  };
}
