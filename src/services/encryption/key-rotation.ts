import type { Db, Document, ObjectId } from 'mongodb';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { aadFor, type EncryptedFieldRegistry } from './field-encryption.plugin';
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
  lastId: ObjectId | null;
  done: boolean;
}

export interface RotationReport {
  targetKeyId: string;
  status: 'running' | 'finished';
  startedAt: Date;
  finishedAt: Date | null;
  collections: RotationProgress[];
}

interface RotationStateDoc extends Document {
  _id: string;
  targetKeyId: string;
  status: 'running' | 'finished';
  startedAt: Date;
  finishedAt: Date | null;
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
/** Reads a dotted path (`mfa.totpSecret`) from a raw document. */
const valueAt = (doc: Document, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>(
      (v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
      doc,
    );
const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Re-encrypts every encrypted field under the active key, in batches ordered by _id,
 * checkpointing after each batch so an interrupted run resumes where it stopped. Each
 * value is swapped with an update conditioned on its old ciphertext, so a concurrent
 * write (already under the active key) is never overwritten. Reads keep working
 * throughout because old keys stay in the ring until retired.
 */
export class KeyRotation {
  private readonly batchSize: number;
  private readonly now: () => Date;

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

  /** Starts a rotation to the active key, or resumes the unfinished one. */
  async rotate(
    opts: { maxBatches?: number; onProgress?: (p: RotationProgress) => void; actorId?: string } = {},
  ): Promise<RotationReport> {
    const target = this.deps.cipher.activeKeyId;
    let state = await this.state.findOne({ _id: STATE_ID });
    if (!state || state.status === 'finished' || state.targetKeyId !== target) {
      state = {
        _id: STATE_ID,
        targetKeyId: target,
        status: 'running',
        startedAt: this.now(),
        finishedAt: null,
        collections: [...this.deps.registry.collections.keys()].map((collection) => ({
          collection,
          scanned: 0,
          reEncrypted: 0,
          lastId: null,
          done: false,
        })),
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
    }
    let batches = 0;
    for (const progress of state.collections) {
      const fields = this.deps.registry.collections.get(progress.collection) ?? [];
      while (!progress.done) {
        if (opts.maxBatches !== undefined && batches >= opts.maxBatches) return toReport(state);
        await this.rotateBatch(progress, fields, target);
        batches++;
        await this.state.updateOne({ _id: STATE_ID }, { $set: { collections: state.collections } });
        opts.onProgress?.({ ...progress });
      }
    }
    state.status = 'finished';
    state.finishedAt = this.now();
    await this.state.updateOne({ _id: STATE_ID }, { $set: { status: state.status, finishedAt: state.finishedAt } });
    this.deps.logger.info({ targetKeyId: target, collections: state.collections }, 'encryption key rotation finished');
    const totals = state.collections.reduce(
      (a, c) => ({ scanned: a.scanned + c.scanned, reEncrypted: a.reEncrypted + c.reEncrypted }),
      { scanned: 0, reEncrypted: 0 },
    );
    await this.deps.audit?.record({
      action: 'encryption.rotation.finished',
      outcome: 'succeeded',
      actorId: opts.actorId,
      resource: 'encryption-key',
      resourceId: target,
      details: totals,
    });
    return toReport(state);
  }

  private async rotateBatch(progress: RotationProgress, fields: string[], target: string): Promise<void> {
    const coll = this.deps.db().collection(progress.collection);
    const filter = progress.lastId === null ? {} : { _id: { $gt: progress.lastId } };
    const projection = Object.fromEntries(fields.map((f) => [f, 1]));
    const docs = await coll.find(filter, { projection }).sort({ _id: 1 }).limit(this.batchSize).toArray();
    for (const doc of docs) {
      const $set: Record<string, string> = {};
      const cond: Record<string, unknown> = { _id: doc._id };
      for (const field of fields) {
        const value = valueAt(doc, field);
        if (typeof value !== 'string' || this.deps.cipher.keyIdOf(value) === target) continue;
        $set[field] = this.deps.cipher.reEncrypt(value, aadFor(progress.collection, doc._id, field));
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
    collections: s.collections,
  };
}
