import { randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { currentRequestContext } from '../../lib/request-context';
import type { SecondFactor, UserDoc, UserModel } from '../../models/user.model';
import type { EncryptionService } from '../encryption/encryption.service';
import type { AuditTrail } from '../audit/audit-trail';
import type { TwoFactorAuthService } from '../two-factor-auth/two-factor-auth.service';
import type { TokenService } from './token.service';
import type { SessionService } from './session.service';
import { accountLocked, type LoginGuard } from './login-guard';
import type { SingleUseClaims } from './single-use-claims';
import { assertAcceptablePassword } from './password-policy';

export type MfaMethod = SecondFactor | 'backup';

/** What checking one second-factor answer found; `refusal` replaces the generic invalid-code problem. */
export interface FactorOutcome {
  ok: boolean;
  /** Backup codes left after a backup code was used. */
  remaining?: number;
  /** A right TOTP code whose step was already spent: no guess. */
  used?: boolean;
  refusal?: AppError;
}

export type FactorCheck = (user: UserDoc) => Promise<FactorOutcome>;

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  /** True when the user must enroll a second factor before anything else (policy or admin reset). */
  enrollmentRequired: boolean;
}

export type LoginResult =
  ({ mfaRequired: false } & TokenPair) | { mfaRequired: true; mfaToken: string; methods: MfaMethod[] };

export interface AuthServiceDeps {
  users: UserModel;
  encryption: EncryptionService;
  tokens: TokenService;
  sessions: SessionService;
  twoFactor: TwoFactorAuthService;
  guard: LoginGuard;
  claims: SingleUseClaims;
  audit: AuditTrail;
  logger: Logger;
  /** Whether holders of a role must sign in with a second factor (AccessPolicy.requiresSecondFactor: by grants, not name). */
  secondFactorRequired: (role: string) => Promise<boolean>;
  /** Called after a successful login, e.g. to clear the auth rate-limit counter for the account. */
  onLoginSuccess?: (emailLower: string, ip: string) => Promise<void>;
  /**
   * Called after a successful second step, e.g. to clear the auth rate-limit counter of that
   * step for the user and address: otherwise a few good sign-ins in a row use it up.
   */
  onSecondFactorSuccess?: (userId: string, ip: string) => Promise<void>;
  /** Told about guessing spikes and account lockouts (the AlertService hooks in here once it exists). */
  onSecurityAlert?: (alert: SecurityAlert) => void;
  /** Failed passwords on one account (all addresses, 24 h) that count as an attack on it; alerted at each multiple. */
  accountAttackThreshold?: number;
}

export interface SecurityAlert {
  kind: 'password-guessing' | 'second-factor-lockout' | 'account-second-factor-cap';
  userId: string | null;
  /** Counts only: never the email, password or code. */
  details: Record<string, number | string>;
}

/** NIST SP 800-63B: no more than 100 consecutive failed second-factor attempts per account. */
export const MAX_CONSECUTIVE_FACTOR_FAILURES = 100;
const INVALID_CREDENTIALS = (): AppError =>
  AppError.unauthorized('The email or password is incorrect.', 'invalid-credentials');

/**
 * A right TOTP code whose 30-second step this user already spent (enabling the app, or a
 * sign-in a moment ago): refused for replay protection, but no guess, so it counts toward no
 * lock. 401 in a sign-in (like invalid-code), 403 when confirming a change (like a wrong code).
 */
export const codeAlreadyUsed = (status: 401 | 403): AppError =>
  new AppError({
    code: 'code-already-used',
    status,
    title: 'Code Already Used',
    detail:
      'This authenticator code was already used. Wait for the next code (a new one appears every 30 seconds) and enter that one.',
  });

/**
 * Password login, second-factor verification, refresh and logout. Unknown users and
 * wrong passwords get the same answer after the same bcrypt work.
 */
export class AuthService {
  private dummyHash?: Promise<string>;

  constructor(private readonly deps: AuthServiceDeps) {}

  /** Prepares the dummy hash at boot, so even the first unknown-user login costs one bcrypt like any other. */
  async warmUp(): Promise<void> {
    this.dummyHash ??= this.deps.encryption.hashPassword(randomUUID() + randomUUID());
    await this.dummyHash;
  }

  private alert(alert: SecurityAlert): void {
    this.deps.logger.warn({ alert: alert.kind, userId: alert.userId, ...alert.details }, 'security alert');
    this.deps.onSecurityAlert?.(alert);
  }

  /**
   * Clearing a rate-limit counter after a success is a courtesy: a Redis hiccup must not fail
   * a sign-in whose credentials were already accepted.
   */
  private async courtesy(clearing: Promise<void> | undefined): Promise<void> {
    await Promise.resolve(clearing).catch((err: unknown) =>
      this.deps.logger.warn({ err: { message: (err as Error).message } }, 'auth rate-limit counter not cleared'),
    );
  }

  private methodsOf(user: UserDoc): MfaMethod[] {
    const methods: MfaMethod[] = [...user.mfa.methods];
    if (user.mfa.backupCodes.some((c) => c.usedAt === null)) methods.push('backup');
    return methods;
  }

  async mustEnroll(user: Pick<UserDoc, 'mfa' | 'role'>): Promise<boolean> {
    return (
      user.mfa.methods.length === 0 &&
      (user.mfa.enrollmentRequired || (await this.deps.secondFactorRequired(user.role)))
    );
  }

  private async accessFor(user: UserDoc, sessionId: string, mfa: boolean): Promise<Omit<TokenPair, 'refreshToken'>> {
    const enrollmentRequired = await this.mustEnroll(user);
    const accessToken = this.deps.tokens.signAccess({
      sub: user._id,
      sid: sessionId,
      role: user.role,
      dept: user.department,
      mfa,
      enroll: enrollmentRequired,
    });
    return { accessToken, tokenType: 'Bearer', expiresIn: this.deps.tokens.accessTtlSeconds, enrollmentRequired };
  }

  private async issue(user: UserDoc, mfa: boolean): Promise<TokenPair> {
    const { session, refreshToken } = await this.deps.sessions.create(user._id, mfa);
    return { ...(await this.accessFor(user, session._id, mfa)), refreshToken };
  }

  /**
   * The user just proved a second factor by confirming its enrollment from `sessionId`: that
   * session becomes a 2FA session (its refresh token now refreshes to mfa=true), and a new
   * access token for it is returned, so a user who had to enroll (an admin) can act at once
   * instead of signing in again. Null when the session ended meanwhile.
   */
  async secondFactorEnrolled(
    userId: string,
    sessionId: string,
    method: SecondFactor,
  ): Promise<Omit<TokenPair, 'refreshToken'> | null> {
    const user = await this.deps.users.findById(userId).lean();
    if (!user || user.status !== 'active' || !user.mfa.methods.includes(method)) return null;
    if (!(await this.deps.sessions.markMfa(sessionId, userId))) return null;
    await this.deps.audit.record({
      action: 'auth.session.mfa-upgraded',
      outcome: 'succeeded',
      actorId: userId,
      actorRole: user.role,
      resource: 'session',
      resourceId: sessionId,
      details: { method },
    });
    return this.accessFor(user, sessionId, true);
  }

  async login(emailInput: string, password: string): Promise<LoginResult> {
    const ip = currentRequestContext()?.ip ?? 'unknown';
    const email = emailInput.trim().toLowerCase();
    // Counted before the password is checked (and given back if it is right): parallel
    // guesses cannot all pass one read of the counter.
    const { pairFailures, accountFailures } = await this.deps.guard.takePasswordAttempt(email, ip);
    const user = await this.deps.users.findOne({ emailLower: email }).lean();
    // Same bcrypt work whether or not the user exists: timing tells nothing.
    this.dummyHash ??= this.deps.encryption.hashPassword(randomUUID() + randomUUID());
    const ok = user
      ? await this.deps.encryption.verifyPassword(password, user.passwordHash)
      : (await this.deps.encryption.verifyPassword(password, await this.dummyHash), false);
    if (!user || !ok || user.status !== 'active') {
      await this.deps.audit.record({
        action: 'auth.login',
        outcome: 'failed',
        actorId: user?._id ?? null,
        details: { reason: !user ? 'unknown-user' : !ok ? 'wrong-password' : 'disabled', accountFailures },
      });
      if (pairFailures === this.deps.guard.freeFailures) {
        // From now on this address waits longer and longer before it may try this account again.
        await this.deps.audit.record({
          action: 'auth.login.throttled',
          outcome: 'denied',
          actorId: user?._id ?? null,
          details: { pairFailures },
        });
      }
      const threshold = this.deps.accountAttackThreshold ?? 20;
      if (accountFailures % threshold === 0) {
        await this.deps.audit.record({
          action: 'auth.login.attack-suspected',
          outcome: 'denied',
          actorId: user?._id ?? null,
          details: { accountFailures },
        });
        this.alert({ kind: 'password-guessing', userId: user?._id ?? null, details: { accountFailures } });
      }
      throw INVALID_CREDENTIALS();
    }
    await this.deps.guard.passwordSucceeded(email, ip);
    await this.courtesy(this.deps.onLoginSuccess?.(email, ip));
    const methods = this.methodsOf(user);
    if (user.mfa.methods.length > 0) {
      await this.deps.audit.record({
        action: 'auth.login.password',
        outcome: 'succeeded',
        actorId: user._id,
        actorRole: user.role,
        details: { mfaRequired: true },
      });
      return { mfaRequired: true, mfaToken: this.deps.tokens.signMfa({ sub: user._id, methods }), methods };
    }
    await this.deps.audit.record({
      action: 'auth.login',
      outcome: 'succeeded',
      actorId: user._id,
      actorRole: user.role,
      details: { mfa: false },
    });
    return { mfaRequired: false, ...(await this.issue(user, false)) };
  }

  private async userForMfa(mfaToken: string): Promise<{ user: UserDoc; loginId: string }> {
    const claims = this.deps.tokens.verifyMfa(mfaToken);
    if (await this.deps.tokens.isMfaSpent(claims.jti))
      throw AppError.unauthorized('The sign-in has expired; start again.', 'invalid-token');
    const user = await this.deps.users.findById(claims.sub).lean();
    if (!user || user.status !== 'active')
      throw AppError.unauthorized('The sign-in has expired; start again.', 'invalid-token');
    return { user, loginId: claims.jti };
  }

  /** Sends an SMS or email code for the second step of a login. */
  async challenge(mfaToken: string, method: 'sms' | 'email'): Promise<{ expiresAt: Date }> {
    const { user, loginId } = await this.userForMfa(mfaToken);
    if (!user.mfa.methods.includes(method)) throw AppError.badRequest(`${method} is not enrolled for this account.`);
    // A locked account gets no more codes (each SMS costs money and is another guess).
    if (user.secondFactorFailures >= MAX_CONSECUTIVE_FACTOR_FAILURES) throw accountLocked();
    await this.deps.guard.checkFactor(user._id, loginId);
    return this.deps.twoFactor.sendCode(user, method, 'login');
  }

  async verifySecondFactor(
    mfaToken: string,
    method: MfaMethod,
    code: string,
  ): Promise<TokenPair & { backupCodesRemaining?: number; warning?: string }> {
    const { user, loginId } = await this.userForMfa(mfaToken);
    return this.factorStep(
      user,
      loginId,
      method,
      (u) => this.checkCode(u, method, code, 'login'),
      () => this.deps.tokens.consumeMfa(loginId),
    );
  }

  /**
   * The sign-in an mfaToken stands for, when it may still take a second step: for a factor
   * that first hands the client something to answer (a passkey challenge). Locked sign-ins
   * and accounts get nothing.
   */
  async pendingSignIn(mfaToken: string): Promise<{ user: UserDoc; loginId: string }> {
    const pending = await this.userForMfa(mfaToken);
    if (pending.user.secondFactorFailures >= MAX_CONSECUTIVE_FACTOR_FAILURES) throw accountLocked();
    await this.deps.guard.checkFactor(pending.user._id, pending.loginId);
    return pending;
  }

  /**
   * The second step with a passkey: `check` verifies the assertion (PasskeyService). It
   * counts toward the same per-sign-in budget and account-wide cap as a code, and a refusal
   * comes back as the check's own problem (wrong origin, replayed challenge...).
   */
  async verifyPasskeySecondFactor(mfaToken: string, check: FactorCheck): Promise<TokenPair> {
    const { user, loginId } = await this.userForMfa(mfaToken);
    return this.factorStep(user, loginId, 'passkey', check, () => this.deps.tokens.consumeMfa(loginId));
  }

  /**
   * Passwordless sign-in: a discoverable passkey (with user verification) is the whole
   * sign-in. `attemptId` is its ceremony, which plays the mfaToken's part: its own budget of
   * tries, the account-wide cap, the lock and the audit are those of a second step, and the
   * session is a 2FA session (a user-verified passkey is multi-factor by itself).
   */
  async signInWithPasskeyOnly(userId: string, attemptId: string, check: FactorCheck): Promise<TokenPair> {
    const user = await this.deps.users.findById(userId).lean();
    if (!user || user.status !== 'active')
      throw AppError.unauthorized('This passkey cannot sign in.', 'passkey-not-accepted');
    // The ceremony's own single-use claim (in `check`) already stops a second session.
    return this.factorStep(user, `passwordless:${attemptId}`, 'passkey', check, async () => true, {
      passwordless: true,
    });
  }

  /**
   * One try at a second factor within sign-in `loginId`: both guessing counts are taken
   * before the check, a failure is audited (and may lock the sign-in or the account), a
   * success spends the sign-in (`consume`) and opens a 2FA session.
   */
  private async factorStep(
    user: UserDoc,
    loginId: string,
    method: MfaMethod,
    check: FactorCheck,
    consume: () => Promise<boolean>,
    extra: Record<string, string | boolean> = {},
  ): Promise<TokenPair & { backupCodesRemaining?: number; warning?: string }> {
    if (user.secondFactorFailures >= MAX_CONSECUTIVE_FACTOR_FAILURES) throw accountLocked();
    // Both counts are taken before the code is checked, atomically in Redis: parallel
    // guesses each use up a try instead of all passing one read of the counter.
    const attempt = await this.deps.guard.takeFactorAttempt(user._id, loginId);
    const consecutive = await this.deps.guard.takeAccountFactorAttempt(
      user._id,
      user.secondFactorFailures,
      MAX_CONSECUTIVE_FACTOR_FAILURES,
    );
    const { ok, remaining, used, refusal } = await check(user);
    if (used) {
      // Replay protection refuses it, but it is the user's own right code, not a guess.
      await this.deps.guard.giveBackFactorAttempt(user._id, loginId, { account: true });
      throw codeAlreadyUsed(401);
    }
    if (!ok) {
      const failures = attempt;
      // Redis holds the running count; the user document keeps only the lock, so it survives a
      // Redis restart (intermediate counts written here could land after a concurrent success
      // reset them, and revive a stale count).
      if (consecutive >= MAX_CONSECUTIVE_FACTOR_FAILURES)
        await this.deps.users.updateOne(
          { _id: user._id },
          { $set: { secondFactorFailures: MAX_CONSECUTIVE_FACTOR_FAILURES } },
        );
      const locked = failures === this.deps.guard.factorLimit;
      await this.deps.audit.record({
        action: locked ? 'auth.mfa.locked' : 'auth.mfa',
        outcome: 'failed',
        actorId: user._id,
        details: { method, failures, ...extra, ...(refusal ? { reason: refusal.code } : {}) },
      });
      if (locked) this.alert({ kind: 'second-factor-lockout', userId: user._id, details: { method, failures } });
      if (consecutive === MAX_CONSECUTIVE_FACTOR_FAILURES) {
        await this.deps.audit.record({
          action: 'auth.mfa.account-locked',
          outcome: 'denied',
          actorId: user._id,
          resource: 'user',
          resourceId: user._id,
          details: { consecutiveFailures: MAX_CONSECUTIVE_FACTOR_FAILURES },
        });
        this.alert({
          kind: 'account-second-factor-cap',
          userId: user._id,
          details: { consecutiveFailures: MAX_CONSECUTIVE_FACTOR_FAILURES },
        });
      }
      throw refusal ?? AppError.unauthorized('The code is not valid.', 'invalid-code');
    }
    // One mfaToken opens one session: a captured token cannot be answered a second time.
    if (!(await consume())) throw AppError.unauthorized('The sign-in has expired; start again.', 'invalid-token');
    await this.deps.users.updateOne({ _id: user._id }, { $set: { secondFactorFailures: 0 } });
    await this.deps.guard.resetAccountFactorAttempts(user._id);
    await this.courtesy(this.deps.onSecondFactorSuccess?.(user._id, currentRequestContext()?.ip ?? 'unknown'));
    await this.deps.audit.record({
      action: 'auth.login',
      outcome: 'succeeded',
      actorId: user._id,
      actorRole: user.role,
      details: { mfa: method, ...extra },
    });
    const pair = await this.issue(user, true);
    if (remaining === undefined) return pair;
    return {
      ...pair,
      backupCodesRemaining: remaining,
      ...(remaining <= 3 ? { warning: `Only ${remaining} backup codes are left; generate a new set.` } : {}),
    };
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const { session, refreshToken: next } = await this.deps.sessions.rotate(refreshToken);
    const user = await this.deps.users.findById(session.userId).lean();
    if (!user || user.status !== 'active') {
      await this.deps.sessions.revoke(session._id, 'user-inactive');
      throw AppError.unauthorized('The refresh token is invalid or expired.', 'invalid-refresh-token');
    }
    return { ...(await this.accessFor(user, session._id, session.mfa)), refreshToken: next };
  }

  /** Retention (no TTL indexes on FerretDB): deletes ended sessions and expired one-time codes. */
  async purgeExpired(): Promise<{ sessions: number; challenges: number; claims: number }> {
    const [sessions, challenges, claims] = await Promise.all([
      this.deps.sessions.purgeExpired(),
      this.deps.twoFactor.purgeExpiredChallenges(),
      this.deps.claims.purgeExpired(),
    ]);
    this.deps.logger.info(
      { sessions, challenges, claims },
      'expired sessions, one-time codes and single-use claims purged',
    );
    return { sessions, challenges, claims };
  }

  async logout(sessionId: string, userId: string): Promise<void> {
    await this.deps.sessions.revoke(sessionId, 'logout');
    await this.deps.audit.record({
      action: 'auth.logout',
      outcome: 'succeeded',
      actorId: userId,
      resource: 'session',
      resourceId: sessionId,
    });
  }

  async logoutAll(userId: string): Promise<number> {
    const n = await this.deps.sessions.revokeAllForUser(userId, 'logout-all');
    await this.deps.audit.record({
      action: 'auth.logout-all',
      outcome: 'succeeded',
      actorId: userId,
      details: { sessions: n },
    });
    return n;
  }

  /**
   * A second-factor code for `purpose` (a sign-in, or a step-up confirming a change).
   * Backup codes also report how many are left.
   */
  private async checkCode(
    user: UserDoc,
    method: MfaMethod,
    code: string,
    purpose: 'login' | 'step-up',
  ): Promise<FactorOutcome> {
    // A passkey answers a challenge (PasskeyService), never a typed code.
    if (method === 'passkey') return { ok: false };
    if (method === 'totp') {
      const outcome = await this.deps.twoFactor.checkTotpForUser(user, code);
      return { ok: outcome === 'ok', used: outcome === 'used' };
    }
    if (method === 'backup') return this.deps.twoFactor.useBackupCode(user, code);
    return {
      ok:
        user.mfa.methods.includes(method) && (await this.deps.twoFactor.verifyCode(user._id, method, purpose, code)).ok,
    };
  }

  /**
   * Re-authentication for sensitive changes by a signed-in user (new password, new or removed
   * factor, new backup codes): a stolen access token alone must not be enough to take over
   * the account for good. Wrong passwords count in the same guard as logins.
   */
  async reauthenticate(userId: string, password: string, action: string): Promise<UserDoc> {
    const user = await this.deps.users.findById(userId).lean();
    if (!user || user.status !== 'active') throw AppError.unauthorized('The session has ended.', 'invalid-token');
    await this.confirmPassword(user, password, action);
    return user;
  }

  private async confirmPassword(user: UserDoc, password: string, action: string): Promise<void> {
    const ip = currentRequestContext()?.ip ?? 'unknown';
    await this.deps.guard.takePasswordAttempt(user.emailLower, ip);
    if (!(await this.deps.encryption.verifyPassword(password, user.passwordHash))) {
      await this.deps.audit.record({
        action,
        outcome: 'failed',
        actorId: user._id,
        details: { reason: 'wrong-password' },
      });
      throw AppError.forbidden('The current password is incorrect.');
    }
    await this.deps.guard.passwordSucceeded(user.emailLower, ip);
  }

  /** Changes the password and ends every other session of the user. */
  async changePassword(userId: string, sessionId: string, current: string, next: string): Promise<void> {
    const user = await this.reauthenticate(userId, current, 'auth.password.change');
    assertAcceptablePassword(next, { email: user.email, name: user.name });
    await this.deps.users.updateOne(
      { _id: userId },
      { $set: { passwordHash: await this.deps.encryption.hashPassword(next), passwordChangedAt: new Date() } },
    );
    const ended = await this.deps.sessions.revokeAllForUser(userId, 'password-changed', sessionId);
    await this.deps.audit.record({
      action: 'auth.password.changed',
      outcome: 'succeeded',
      actorId: userId,
      details: { otherSessionsEnded: ended },
    });
  }

  /** Turning 2FA off needs the password and a current code from an enrolled factor. */
  async disableSecondFactors(userId: string, password: string, method: MfaMethod, code: string): Promise<void> {
    const user = await this.deps.users.findById(userId).lean();
    if (!user) throw AppError.notFound();
    if (await this.deps.secondFactorRequired(user.role))
      throw AppError.forbidden(`Two-factor authentication is mandatory for the ${user.role} role.`);
    await this.confirmPassword(user, password, 'mfa.disable');
    // Codes here count against their own limit (all factors together), like a sign-in's.
    await this.deps.guard.takeFactorAttempt(user._id, 'step-up');
    const checked = await this.checkCode(user, method, code, 'step-up');
    if (checked.used) {
      await this.deps.guard.giveBackFactorAttempt(user._id, 'step-up', { account: false });
      throw codeAlreadyUsed(403);
    }
    if (!checked.ok) {
      await this.deps.audit.record({ action: 'mfa.disable', outcome: 'failed', actorId: userId });
      throw AppError.forbidden('The password or code is incorrect.');
    }
    await this.deps.twoFactor.clearFactors(userId, { requireEnrollment: false });
    await this.deps.audit.record({
      action: 'mfa.disabled',
      outcome: 'succeeded',
      actorId: userId,
      resource: 'user',
      resourceId: userId,
    });
  }
}
