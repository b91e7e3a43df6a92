import type { JobLeaseModel } from '../models/job-lease.model';

/** A held lease: `epoch` is its fencing token (strictly increasing per name across the cluster). */
export interface Lease {
  name: string;
  epoch: number;
  holder: string;
  expiresAt: Date;
}

/** The lease was taken over (or expired): the work it guarded must not commit. */
export class LeaseLostError extends Error {
  constructor(
    readonly lease: Pick<Lease, 'name' | 'epoch'>,
    reason: string,
  ) {
    super(`lease ${lease.name} epoch ${lease.epoch} lost: ${reason}`);
    this.name = 'LeaseLostError';
  }
}

function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: number }).code === 11000;
}

/** Old epochs are kept a little for forensics, then deleted by the next taker. */
const EPOCHS_KEPT = 5;

/**
 * Cluster-wide leases in MongoDB, correct where conditional updates are not atomic
 * (FerretDB 1.x applies them read-then-write): every change of holder is the unique insert
 * of the next epoch document `"<name>:<epoch>"`, so two processes can never both take the
 * same epoch. Only the holder ever writes its own epoch document (renewal, release); a
 * takeover writes a new one. A holder that stops renewing (crash) loses the lease at
 * `expiresAt`, and from then on its fencing token is stale: `assertHeld` refuses it.
 */
export class LeaseManager {
  private readonly now: () => Date;

  constructor(private readonly deps: { leases: JobLeaseModel; now?: () => Date }) {
    this.now = deps.now ?? (() => new Date());
  }

  /** The newest epoch of `name`, or null when it was never taken. */
  async current(name: string): Promise<(Lease & { releasedAt: Date | null; acquiredAt: Date }) | null> {
    const doc = await this.deps.leases.findOne({ name }).sort({ epoch: -1 }).lean();
    return doc
      ? {
          name: doc.name,
          epoch: doc.epoch,
          holder: doc.holder,
          expiresAt: doc.expiresAt,
          acquiredAt: doc.acquiredAt,
          releasedAt: doc.releasedAt,
        }
      : null;
  }

  /** Takes `name` for `ttlMs` when it is free, released or expired; null when someone else holds it. */
  async acquire(name: string, holder: string, ttlMs: number): Promise<Lease | null> {
    const latest = await this.current(name);
    const now = this.now();
    if (latest && latest.releasedAt === null && latest.expiresAt.getTime() > now.getTime()) return null;
    const epoch = (latest?.epoch ?? 0) + 1;
    const expiresAt = new Date(now.getTime() + ttlMs);
    try {
      await this.deps.leases.create({
        _id: `${name}:${epoch}`,
        name,
        epoch,
        holder,
        acquiredAt: now,
        expiresAt,
        releasedAt: null,
      });
    } catch (err) {
      if (isDuplicateKey(err)) return null; // another taker won this epoch
      throw err;
    }
    if (epoch > EPOCHS_KEPT)
      await this.deps.leases.deleteMany({ name, epoch: { $lte: epoch - EPOCHS_KEPT } }).catch(() => undefined);
    return { name, epoch, holder, expiresAt };
  }

  /**
   * Throws LeaseLostError unless `lease` is still the newest epoch and unexpired: the
   * fencing check a holder makes right before it commits anything the lease guards.
   */
  async assertHeld(lease: Pick<Lease, 'name' | 'epoch'>): Promise<void> {
    const latest = await this.current(lease.name);
    if (!latest || latest.epoch !== lease.epoch)
      throw new LeaseLostError(lease, `taken over by epoch ${latest?.epoch ?? '?'}`);
    if (latest.releasedAt !== null) throw new LeaseLostError(lease, 'released');
    if (latest.expiresAt.getTime() <= this.now().getTime()) throw new LeaseLostError(lease, 'expired');
  }

  /** Extends a held lease by `ttlMs` from now; throws LeaseLostError when it was lost meanwhile. */
  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    await this.assertHeld(lease);
    const expiresAt = new Date(this.now().getTime() + ttlMs);
    await this.deps.leases.updateOne({ _id: `${lease.name}:${lease.epoch}`, holder: lease.holder }, { expiresAt });
    // A taker that read the old expiry just before it passed may have inserted the next epoch: re-check.
    await this.assertHeld(lease);
    lease.expiresAt = expiresAt;
    return lease;
  }

  /** Gives the lease back so the next taker need not wait for expiry. A lost lease is left alone. */
  async release(lease: Pick<Lease, 'name' | 'epoch' | 'holder'>): Promise<void> {
    await this.deps.leases.updateOne(
      { _id: `${lease.name}:${lease.epoch}`, holder: lease.holder, releasedAt: null },
      { releasedAt: this.now() },
    );
  }

  /**
   * Claims one named occurrence (e.g. one scheduled firing of a job) for the whole cluster:
   * true for exactly one caller. Kept `ttlMs`, then deleted by `purgeClaims`.
   */
  async claimOnce(key: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    try {
      await this.deps.leases.create({
        _id: `once:${key}`,
        name: 'once',
        epoch: 0,
        holder,
        acquiredAt: now,
        expiresAt: new Date(now.getTime() + ttlMs),
        releasedAt: null,
      });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async purgeClaims(): Promise<number> {
    return (await this.deps.leases.deleteMany({ name: 'once', expiresAt: { $lte: this.now() } })).deletedCount;
  }

  /**
   * Runs `work` under the lease `name`, renewing it every `ttlMs / 3` (real time) while it
   * runs; null when the lease is held elsewhere. `work` gets the lease for its fencing checks
   * (`assertHeld`) and a signal that aborts when a renewal finds the lease lost.
   */
  async withLease<T>(
    name: string,
    holder: string,
    ttlMs: number,
    work: (lease: Lease, signal: AbortSignal) => Promise<T>,
  ): Promise<{ value: T } | null> {
    const lease = await this.acquire(name, holder, ttlMs);
    if (!lease) return null;
    const lost = new AbortController();
    const timer = setInterval(
      () => {
        this.renew(lease, ttlMs).catch((err: unknown) => {
          if (err instanceof LeaseLostError) {
            clearInterval(timer);
            lost.abort(err);
          } // a transient database error: the next renewal tries again before expiry
        });
      },
      Math.max(100, Math.floor(ttlMs / 3)),
    );
    timer.unref();
    try {
      return { value: await work(lease, lost.signal) };
    } finally {
      clearInterval(timer);
      await this.release(lease).catch(() => undefined);
    }
  }
}
