import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { SessionDoc, SessionModel } from '../../models/session.model';
import type { TokenService } from './token.service';
import type { SingleUseClaims } from './single-use-claims';
import type { AuditTrail } from '../audit/audit-trail';
import { currentRequestContext } from '../../lib/request-context';

export interface SessionServiceDeps {
  sessions: SessionModel;
  tokens: TokenService;
  claims: SingleUseClaims;
  audit: AuditTrail;
  refreshTtlDays: number;
  now?: () => Date;
  /** Told when a refresh token is used twice (the AlertService raises an alert). Must not throw. */
  onReuse?: (e: { userId: string; sessionId: string }) => void;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const REFRESH = /^([0-9a-f-]{36})\.(\d{1,9})\.([A-Za-z0-9_-]{43})$/;

/**
 * Login sessions and their refresh tokens. Rotation is one conditional single-document
 * update (no transactions needed): it succeeds only for the current generation's secret,
 * so a replayed older token is recognised as reuse and ends the whole session.
 */
export class SessionService {
  private readonly now: () => Date;

  constructor(private readonly deps: SessionServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async create(userId: string, mfa: boolean): Promise<{ session: SessionDoc; refreshToken: string }> {
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const now = this.now();
    const ctx = currentRequestContext();
    const session: SessionDoc = {
      _id: id,
      userId,
      generation: 1,
      refreshHash: sha256(secret),
      mfa,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + this.deps.refreshTtlDays * 86_400_000),
      revokedAt: null,
      revokedReason: null,
      ip: ctx?.ip ?? null,
      userAgent: ctx?.userAgent ?? null,
    };
    await this.deps.sessions.create(session);
    return { session, refreshToken: `${id}.1.${secret}` };
  }

  /** Exchanges a refresh token for the next one. Reuse of a spent token revokes the session. */
  async rotate(refreshToken: string): Promise<{ session: SessionDoc; refreshToken: string }> {
    const invalid = AppError.unauthorized('The refresh token is invalid or expired.', 'invalid-refresh-token');
    const m = REFRESH.exec(refreshToken);
    if (!m) throw invalid;
    const [, id, genText, secret] = m;
    const generation = Number(genText);
    const session = await this.deps.sessions.findById(id).lean();
    if (!session || session.revokedAt !== null || session.expiresAt <= this.now()) throw invalid;
    if (await this.deps.claims.has(`session-ended:${id}`)) throw invalid;
    if (generation < session.generation) throw await this.endReused(session);
    const presented = Buffer.from(sha256(secret), 'hex');
    if (generation !== session.generation || !timingSafeEqual(presented, Buffer.from(session.refreshHash, 'hex')))
      throw invalid;
    // Two requests with the same token can both get this far: the claim lets exactly one rotate.
    if (!(await this.deps.claims.claim(`refresh:${id}:${generation}`, session.expiresAt)))
      throw await this.endReused(session, { concurrent: true });
    const nextSecret = randomBytes(32).toString('base64url');
    const updated = await this.deps.sessions
      .findOneAndUpdate(
        { _id: id, generation, refreshHash: session.refreshHash, revokedAt: null },
        { $set: { generation: generation + 1, refreshHash: sha256(nextSecret), lastUsedAt: this.now() } },
        { returnDocument: 'after' },
      )
      .lean();
    if (!updated) {
      // Lost a race with another use of the same token: that is reuse too.
      await this.revoke(id, 'refresh-token-reuse');
      throw AppError.unauthorized(
        'The refresh token was already used; the session has been ended.',
        'refresh-token-reused',
      );
    }
    return { session: updated, refreshToken: `${id}.${generation + 1}.${nextSecret}` };
  }

  /**
   * Marks a live session of `userId` as having passed a second factor (the user just proved
   * a factor by enrolling it). False when the session is gone or ended. On FerretDB 1.x a
   * rotation racing with this can write the old value back: the session then merely stays
   * without 2FA (fails safe).
   */
  async markMfa(id: string, userId: string): Promise<boolean> {
    const res = await this.deps.sessions.updateOne(
      { _id: id, userId, revokedAt: null, expiresAt: { $gt: this.now() } },
      { $set: { mfa: true } },
    );
    if (res.matchedCount !== 1 || (await this.deps.claims.has(`session-ended:${id}`))) return false;
    // Access tokens read the session's 2FA state with the revocation check: refresh its cached copy.
    await this.deps.tokens.sessionsChanged([id]);
    return true;
  }

  async get(id: string): Promise<SessionDoc | null> {
    return this.deps.sessions.findById(id).lean();
  }

  async revoke(id: string, reason: string): Promise<void> {
    await this.deps.sessions.updateOne(
      { _id: id, revokedAt: null },
      { $set: { revokedAt: this.now(), revokedReason: reason } },
    );
    await this.markEnded(id);
    await this.deps.tokens.revokeSessions([id]);
  }

  /**
   * An insert-only record that the session ended. FerretDB 1.x writes updates back as whole
   * documents, so a rotation racing with this revocation can overwrite `revokedAt`; an
   * inserted record cannot be overwritten that way, and rotate() checks it.
   */
  private async markEnded(id: string): Promise<void> {
    await this.deps.claims.claim(
      `session-ended:${id}`,
      new Date(this.now().getTime() + this.deps.refreshTtlDays * 86_400_000),
    );
  }

  /**
   * Deletes sessions past their expiry, and revoked ones once a refresh token of theirs could
   * no longer have been valid anyway (reuse of a deleted session's token is still refused).
   */
  async purgeExpired(): Promise<number> {
    const now = this.now();
    const revokedBefore = new Date(now.getTime() - this.deps.refreshTtlDays * 86_400_000);
    const res = await this.deps.sessions.deleteMany({
      $or: [{ expiresAt: { $lte: now } }, { revokedAt: { $ne: null, $lte: revokedBefore } }],
    });
    return res.deletedCount;
  }

  /** Ends every live session of a user (optionally keeping one), access tokens included. */
  async revokeAllForUser(userId: string, reason: string, keepSessionId?: string): Promise<number> {
    const live = await this.deps.sessions.find({ userId, revokedAt: null }, { _id: 1 }).lean();
    const ids = live.map((s) => s._id).filter((id) => id !== keepSessionId);
    if (ids.length === 0) return 0;
    await this.deps.sessions.updateMany(
      { _id: { $in: ids }, revokedAt: null },
      { $set: { revokedAt: this.now(), revokedReason: reason } },
    );
    await this.deps.tokens.revokeSessions(ids);
    for (const id of ids) await this.markEnded(id);
    return ids.length;
  }

  /** A refresh token used twice (a stolen copy, or a race): the whole session ends and the reuse is audited. */
  private async endReused(
    session: { _id: string; userId: string },
    details?: Record<string, unknown>,
  ): Promise<AppError> {
    await this.revoke(session._id, 'refresh-token-reuse');
    this.deps.onReuse?.({ userId: session.userId, sessionId: session._id });
    await this.deps.audit.record({
      action: 'auth.refresh.reuse-detected',
      outcome: 'denied',
      actorId: session.userId,
      resource: 'session',
      resourceId: session._id,
      ...(details ? { details } : {}),
    });
    return AppError.unauthorized(
      'The refresh token was already used; the session has been ended.',
      'refresh-token-reused',
    );
  }
}
