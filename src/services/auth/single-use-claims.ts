import type { SingleUseClaimModel } from '../../models/single-use-claim.model';

/**
 * Arbitrates single-use rules by inserting a unique key: the first caller wins, every later
 * or concurrent one loses. Callers keep their own state checks (e.g. the last TOTP step) for
 * durability; this closes the race between two requests that both passed those checks.
 */
export class SingleUseClaims {
  private readonly now: () => Date;

  constructor(private readonly deps: { claims: SingleUseClaimModel; now?: () => Date }) {
    this.now = deps.now ?? (() => new Date());
  }

  /** True for the one caller that claims `key`; false when it was already claimed. */
  async claim(key: string, expiresAt: Date): Promise<boolean> {
    try {
      await this.deps.claims.create({ _id: key, claimedAt: this.now(), expiresAt });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 11000) return false;
      throw err;
    }
  }

  /** Gives a claim back (the work it guarded did not happen, e.g. a code could not be sent). */
  async release(key: string): Promise<void> {
    await this.deps.claims.deleteOne({ _id: key });
  }

  async has(key: string): Promise<boolean> {
    return (await this.deps.claims.exists({ _id: key })) !== null;
  }

  async purgeExpired(): Promise<number> {
    return (await this.deps.claims.deleteMany({ expiresAt: { $lte: this.now() } })).deletedCount;
  }
}
