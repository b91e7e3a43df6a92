import mongoose, { type Model } from 'mongoose';
import { AppError } from '../../lib/errors';
import type { VersionClaimModel } from '../../models/version-claim.model';

/** A document under optimistic concurrency: `version` counts its changes (missing on records older than the field: 0). */
export interface Versioned {
  _id: string;
  version?: number | null;
}

export const versionOf = (doc: Versioned): number => doc.version ?? 0;

/** A claim's writer gives up before writing once half the lease is gone, leaving the other half as margin for clock skew. */
export const DEFAULT_CLAIM_LEASE_MS = 60_000;
const MAX_CLAIM_ATTEMPTS = 20;

interface HeldClaim {
  key: string;
  claimedAt: number;
}

/**
 * Every read-modify-write of a versioned document goes through here, so that of several
 * writers who read version v exactly one changes it, on MongoDB Atlas and on FerretDB 1.x.
 *
 * 1. The caller loads the document (version v) and checks its rules against that content.
 * 2. `claim`: insert `<collection>:<id>:<v>:<generation>` into version_claims. The unique
 *    `_id` picks one winner; every other writer of v answers 409 `stale-version`. (A
 *    conditional update alone is not enough: FerretDB 1.x applies it as read-then-write, so
 *    two of them can both match `version: v`.)
 * 3. Only the winner writes, filtered on `{_id, version: v}`, setting version v+1, then
 *    deletes the claims of v. The caller audits after `update`/`remove` returned: only the
 *    winner gets there, once.
 *
 * Crash between claim and write: the claim only blocks while its lease runs (injected
 * clock). A writer that finds an expired claim of a version that is still current takes
 * the next generation of it and proceeds, so a crashed writer delays edits of that one
 * record by at most the lease. The claim holds no content, so the crashed change is simply
 * not applied (the client never got a success). A writer that is alive but slow never
 * writes once half its lease is gone, so it cannot collide with the writer that took over;
 * on MongoDB the `version: v` filter would stop the second of them anyway.
 *
 * Any failure known to happen before the write (validation, duplicate key) gives the
 * claim back at once; an unknown outcome (network error) leaves it to expire.
 */
export class VersionedWriter {
  private readonly now: () => Date;
  private readonly leaseMs: number;

  constructor(private readonly deps: { claims: VersionClaimModel; now?: () => Date; leaseMs?: number }) {
    this.now = deps.now ?? (() => new Date());
    this.leaseMs = deps.leaseMs ?? DEFAULT_CLAIM_LEASE_MS;
  }

  /**
   * Applies `set` to `current` if nobody changed it since it was read; returns the document
   * after the change. 409 `stale-version` for every other writer of the same version.
   */
  async update<T extends Versioned>(
    model: Model<T>,
    current: T,
    set: Record<string, unknown>,
    what: string,
  ): Promise<T> {
    const v = versionOf(current);
    const coll = model.collection.collectionName;
    const claim = await this.claim(coll, current._id, v, what);
    let updated: T | null;
    try {
      this.assertStillHeld(claim);
      updated = await model
        .findOneAndUpdate(
          atVersion(current._id, v),
          { $set: { ...set, version: v + 1 } },
          { returnDocument: 'after', runValidators: true },
        )
        .lean<T>();
    } catch (err) {
      if (nothingWritten(err)) await this.deps.claims.deleteOne({ _id: claim.key });
      throw err;
    }
    await this.settle(coll, current._id, v);
    if (!updated) throw staleVersion(what);
    return updated;
  }

  /** Deletes `current` if nobody changed it since it was read; 409 `stale-version` otherwise. */
  async remove<T extends Versioned>(model: Model<T>, current: T, what: string): Promise<void> {
    const v = versionOf(current);
    const coll = model.collection.collectionName;
    const claim = await this.claim(coll, current._id, v, what);
    let deleted: number;
    try {
      this.assertStillHeld(claim);
      deleted = (await model.deleteOne(atVersion(current._id, v))).deletedCount;
    } catch (err) {
      if (nothingWritten(err)) await this.deps.claims.deleteOne({ _id: claim.key });
      throw err;
    }
    await this.settle(coll, current._id, v);
    if (deleted === 0) throw staleVersion(what);
  }

  private async claim(collectionName: string, docId: string, version: number, what: string): Promise<HeldClaim> {
    let generation = 0;
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      const key = `${collectionName}:${docId}:${version}:${generation}`;
      const claimedAt = this.now();
      try {
        await this.deps.claims.create({
          _id: key,
          collectionName,
          docId,
          version,
          generation,
          claimedAt,
          expiresAt: new Date(claimedAt.getTime() + this.leaseMs),
        });
        return { key, claimedAt: claimedAt.getTime() };
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
      }
      const held = await this.deps.claims.findById(key).lean();
      // Gone again: its writer finished (then our write finds a newer version) or gave it back; try once more.
      if (!held) continue;
      if (held.expiresAt.getTime() > this.now().getTime()) throw staleVersion(what);
      generation++; // abandoned by a crashed writer: the next generation replaces it
    }
    throw staleVersion(what);
  }

  private assertStillHeld(claim: HeldClaim): void {
    if (this.now().getTime() - claim.claimedAt < this.leaseMs / 2) return;
    throw AppError.serviceUnavailable('The change took too long and was not applied; try again.');
  }

  /** After the write (or its no-match), the claims of version v guard nothing any more. */
  private async settle(collectionName: string, docId: string, version: number): Promise<void> {
    // Best effort: a claim left behind only makes a writer that still holds version v
    // (already stale) answer 409 until it expires, which it would anyway.
    await this.deps.claims.deleteMany({ collectionName, docId, version: { $lte: version } }).catch(() => undefined);
  }
}

/** The filter of "this document, still at version v" (documents older than the field count as 0). */
function atVersion(id: string, v: number): Record<string, unknown> {
  return v === 0 ? { _id: id, $or: [{ version: 0 }, { version: { $exists: false } }] } : { _id: id, version: v };
}

function staleVersion(what: string): AppError {
  return AppError.conflict(
    `The ${what} was changed by another request at the same time; reload it and try again.`,
    'stale-version',
  );
}

/** Errors raised before the server wrote anything: the claim can be given back at once. */
function nothingWritten(err: unknown): boolean {
  return (
    err instanceof AppError ||
    err instanceof mongoose.Error.ValidationError ||
    err instanceof mongoose.Error.CastError ||
    (err as { code?: number }).code === 11000
  );
}
