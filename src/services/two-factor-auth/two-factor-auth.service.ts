import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import speakeasy from 'speakeasy';
import QRCode from 'qrcode';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { UserDoc, UserModel, SecondFactor } from '../../models/user.model';
import type { OtpChallengeModel, OtpChannel, OtpPurpose } from '../../models/otp-challenge.model';
import type { EncryptionService } from '../encryption/encryption.service';
import type { AuditTrail } from '../audit/audit-trail';
import type { EmailSender, SmsSender } from '../auth/senders';
import type { SingleUseClaims } from '../auth/single-use-claims';
import type { LoginGuard } from '../auth/login-guard';
import type { PasskeyCredentialModel } from '../../models/passkey.model';

export interface TotpCheck {
  /** base32 unless `encoding` says otherwise. */
  secret: string;
  encoding?: 'base32' | 'ascii';
  code: string;
  at: Date;
  digits?: number;
  algorithm?: 'sha1' | 'sha256' | 'sha512';
  /** Steps of drift accepted either side (1 = ±30 s). */
  window?: number;
  /** The last step already accepted: it and earlier steps are refused (no replay). */
  lastUsedStep?: number;
}

export const TOTP_STEP_SECONDS = 30;

/** A user's TOTP code: accepted, wrong, or right but its time step already spent by this user. */
export type TotpOutcome = 'ok' | 'invalid' | 'used';

/**
 * The one TOTP verification path (RFC 6238): used for user codes and by the RFC test
 * vectors alike. Candidates are compared in constant time; returns the matched step.
 */
export function verifyTotp(c: TotpCheck): { ok: true; step: number } | { ok: false; replay: boolean } {
  const digits = c.digits ?? 6;
  if (!new RegExp(`^\\d{${digits}}$`).test(c.code)) return { ok: false, replay: false };
  const seconds = Math.floor(c.at.getTime() / 1000);
  const current = Math.floor(seconds / TOTP_STEP_SECONDS);
  const window = c.window ?? 1;
  let replay = false;
  for (let step = current - window; step <= current + window; step++) {
    const expected = speakeasy.totp({
      secret: c.secret,
      encoding: c.encoding ?? 'base32',
      time: step * TOTP_STEP_SECONDS,
      digits,
      algorithm: c.algorithm ?? 'sha1',
      step: TOTP_STEP_SECONDS,
    });
    if (timingSafeEqual(Buffer.from(expected), Buffer.from(c.code))) {
      if (c.lastUsedStep !== undefined && step <= c.lastUsedStep) {
        replay = true;
        continue;
      }
      return { ok: true, step };
    }
  }
  return { ok: false, replay };
}

export interface TwoFactorDeps {
  users: UserModel;
  challenges: OtpChallengeModel;
  claims: SingleUseClaims;
  /** Clears the account-wide failure count when factors are reset. */
  guard: LoginGuard;
  encryption: EncryptionService;
  audit: AuditTrail;
  email: EmailSender;
  sms: SmsSender;
  logger: Logger;
  totpIssuer: string;
  /** Passkeys are second factors too: clearing the factors removes them. */
  passkeyCredentials: PasskeyCredentialModel;
  now?: () => Date;
}

export interface TotpSetup {
  secret: string;
  otpauthUrl: string;
  qrCodeDataUrl: string;
}

const OTP_TTL_MS = 10 * 60_000;
const OTP_MAX_ATTEMPTS = 5;
const RESEND_AFTER_MS = 60_000;
const BACKUP_CODE_COUNT = 10;
export const BACKUP_CODES_LOW = 3;
const BASE32 = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // no 0/O, 1/I: codes are typed from paper

/**
 * Second factors: authenticator apps (TOTP), one-time codes by SMS and email, and backup
 * codes. Secrets and phone numbers are stored encrypted; codes only as HMACs; every
 * single-use rule and every try is claimed by a unique insert, so two racing requests
 * cannot both win (a conditional update is read-then-write on FerretDB 1.x).
 */
export class TwoFactorAuthService {
  private readonly now: () => Date;

  constructor(private readonly deps: TwoFactorDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private codeHash(context: string, code: string): string {
    return this.deps.encryption.blindIndex(`otp:${context}`, code);
  }

  private totpAad(userId: string): string {
    return `users/${userId}/mfa.totpSecret`;
  }

  // --- TOTP

  async setupTotp(user: UserDoc): Promise<TotpSetup> {
    if (user.mfa.methods.includes('totp'))
      throw AppError.conflict('An authenticator app is already enrolled; disable it first.');
    const secret = speakeasy.generateSecret({ length: 20 }).base32;
    const label = `${this.deps.totpIssuer}:${user.email}`;
    const otpauthUrl = speakeasy.otpauthURL({
      secret,
      label,
      issuer: this.deps.totpIssuer,
      encoding: 'base32',
      algorithm: 'sha1',
      digits: 6,
      period: TOTP_STEP_SECONDS,
    });
    await this.deps.users.updateOne(
      { _id: user._id },
      {
        $set: {
          'mfa.totpSecret': this.deps.encryption.encrypt(secret, this.totpAad(user._id)),
          'mfa.totpPending': true,
        },
      },
    );
    const qrCodeDataUrl = await QRCode.toDataURL(otpauthUrl, { errorCorrectionLevel: 'M' });
    return { secret, otpauthUrl, qrCodeDataUrl };
  }

  /** Confirms enrollment with a first valid code; returns fresh backup codes when the user had none. */
  async enableTotp(user: UserDoc, code: string): Promise<{ backupCodes: string[] | null }> {
    if (!user.mfa.totpSecret || !user.mfa.totpPending) throw AppError.conflict('Start the authenticator setup first.');
    const secret = this.deps.encryption.decrypt(user.mfa.totpSecret, this.totpAad(user._id));
    const result = verifyTotp({ secret, code, at: this.now() });
    if (!result.ok) {
      await this.deps.audit.record({
        action: 'mfa.totp.enable',
        outcome: 'failed',
        actorId: user._id,
        resource: 'user',
        resourceId: user._id,
      });
      throw AppError.badRequest('The code is not valid for this authenticator.');
    }
    await this.deps.users.updateOne(
      { _id: user._id },
      {
        $set: { 'mfa.totpPending': false, 'mfa.totpLastStep': result.step, 'mfa.enrollmentRequired': false },
        $addToSet: { 'mfa.methods': 'totp' },
      },
    );
    await this.deps.audit.record({
      action: 'mfa.totp.enabled',
      outcome: 'succeeded',
      actorId: user._id,
      resource: 'user',
      resourceId: user._id,
    });
    return { backupCodes: user.mfa.backupCodes.length ? null : await this.regenerateBackupCodes(user._id, true) };
  }

  /** Verifies a login code; each time step is accepted once (stored atomically), a replay is refused and audited. */
  async verifyTotpForUser(user: UserDoc, code: string): Promise<boolean> {
    return (await this.checkTotpForUser(user, code)) === 'ok';
  }

  /**
   * As verifyTotpForUser, telling a wrong code ('invalid') from a right one whose time step
   * this user already spent ('used': the code that enabled the app or just signed in, or a
   * concurrent request with it won). A used code is no guess: callers need not count it.
   */
  async checkTotpForUser(user: UserDoc, code: string): Promise<TotpOutcome> {
    if (!user.mfa.methods.includes('totp') || !user.mfa.totpSecret) return 'invalid';
    const secret = this.deps.encryption.decrypt(user.mfa.totpSecret, this.totpAad(user._id));
    const fresh = await this.deps.users.findById(user._id, { 'mfa.totpLastStep': 1 }).lean();
    const lastUsedStep = fresh?.mfa.totpLastStep ?? user.mfa.totpLastStep;
    const result = verifyTotp({ secret, code, at: this.now(), lastUsedStep });
    if (!result.ok) {
      return result.replay ? this.refuseReplay(user._id) : 'invalid';
    }
    // Exactly one of several concurrent requests with this step's code wins the claim...
    if (!(await this.deps.claims.claim(`totp:${user._id}:${result.step}`, new Date(this.now().getTime() + 5 * 60_000))))
      return this.refuseReplay(user._id, { concurrent: true });
    // ...and the stored step only moves forward, so later replays are refused without the claim.
    const claimed = await this.deps.users.updateOne(
      { _id: user._id, 'mfa.totpLastStep': { $lt: result.step } },
      { $set: { 'mfa.totpLastStep': result.step } },
    );
    return claimed.modifiedCount === 1 ? 'ok' : this.refuseReplay(user._id);
  }

  /** A TOTP code whose time step this user already spent: logged, audited, answered 'used'. */
  private async refuseReplay(userId: string, details?: Record<string, unknown>): Promise<'used'> {
    this.deps.logger.warn({ userId }, 'replayed TOTP code refused');
    await this.deps.audit.record({
      action: 'mfa.totp.replay',
      outcome: 'denied',
      actorId: userId,
      resource: 'user',
      resourceId: userId,
      ...(details ? { details } : {}),
    });
    return 'used';
  }

  // --- SMS and email one-time codes

  /** Sends a 6-digit code (valid 10 minutes, single use, 5 tries). Resends are throttled to one a minute. */
  async sendCode(
    user: UserDoc,
    channel: OtpChannel,
    purpose: OtpPurpose,
    target?: string,
  ): Promise<{ expiresAt: Date }> {
    const id = `${user._id}:${purpose}:${channel}`;
    const now = this.now();
    const existing = await this.deps.challenges.findById(id).lean();
    if (existing && existing.consumedAt === null && now.getTime() - existing.sentAt.getTime() < RESEND_AFTER_MS) {
      throw AppError.tooManyRequests(
        'A code was sent less than a minute ago.',
        (RESEND_AFTER_MS - (now.getTime() - existing.sentAt.getTime())) / 1000,
      );
    }
    const destination = channel === 'email' ? user.email : (target ?? user.phone);
    if (!destination) throw AppError.badRequest('No verified phone number is on file.');
    // The read above stops a resend within a minute; this claim stops parallel requests that
    // all passed that read from each sending a (paid) SMS.
    const sendClaim = `otp-send:${id}:${Math.floor(now.getTime() / RESEND_AFTER_MS)}`;
    if (!(await this.deps.claims.claim(sendClaim, new Date(now.getTime() + 2 * RESEND_AFTER_MS)))) {
      throw AppError.tooManyRequests('A code was sent less than a minute ago.', RESEND_AFTER_MS / 1000);
    }
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const expiresAt = new Date(now.getTime() + OTP_TTL_MS);
    await this.deps.challenges.replaceOne(
      { _id: id },
      {
        _id: id,
        userId: user._id,
        purpose,
        channel,
        codeHash: this.codeHash(id, code),
        target: target ? this.deps.encryption.encrypt(target, `otp_challenges/${id}/target`) : null,
        sentAt: now,
        expiresAt,
        attempts: 0,
        consumedAt: null,
      },
      { upsert: true },
    );
    const text = `Your ERP verification code is ${code}. It expires in 10 minutes. Never share it.`;
    try {
      if (channel === 'email')
        await this.deps.email.send({ to: destination, subject: 'Your ERP verification code', text });
      else await this.deps.sms.send(destination, text);
    } catch (err) {
      // The user never got this code: do not leave it redeemable or blocking a resend.
      await this.deps.challenges.deleteOne({ _id: id, sentAt: now });
      await this.deps.claims.release(sendClaim);
      throw err;
    }
    await this.deps.audit.record({
      action: `mfa.${channel}.code-sent`,
      outcome: 'succeeded',
      actorId: user._id,
      resource: 'user',
      resourceId: user._id,
      details: { purpose },
    });
    return { expiresAt };
  }

  /**
   * Takes one of a sent code's OTP_MAX_ATTEMPTS tries; false when all are used. Try n is a
   * unique claim, so parallel guesses each take their own try and the cap is exact (an
   * `$inc` under a `$lt` filter let 56 of 100 parallel tries through on FerretDB 1.24).
   * `attempts` on the challenge is a hint of where to start, never the authority.
   */
  private async takeCodeTry(challenge: {
    _id: string;
    sentAt: Date;
    expiresAt: Date;
    attempts: number;
  }): Promise<boolean> {
    for (let n = Math.max(1, challenge.attempts + 1); n <= OTP_MAX_ATTEMPTS; n++) {
      if (
        await this.deps.claims.claim(`otp-try:${challenge._id}:${challenge.sentAt.getTime()}:${n}`, challenge.expiresAt)
      ) {
        await this.deps.challenges.updateOne(
          { _id: challenge._id, sentAt: challenge.sentAt },
          { $max: { attempts: n } },
        );
        return true;
      }
    }
    return false;
  }

  /** Checks a code; returns the enrollment target (phone) when there is one. Each call uses up one try, right or wrong. */
  async verifyCode(
    userId: string,
    channel: OtpChannel,
    purpose: OtpPurpose,
    code: string,
  ): Promise<{ ok: boolean; target: string | null }> {
    const id = `${userId}:${purpose}:${channel}`;
    const now = this.now();
    const challenge = await this.deps.challenges.findOne({ _id: id, consumedAt: null, expiresAt: { $gt: now } }).lean();
    if (!challenge || !(await this.takeCodeTry(challenge)) || !/^\d{6}$/.test(code)) return { ok: false, target: null };
    const presented = Buffer.from(this.codeHash(id, code));
    if (!timingSafeEqual(presented, Buffer.from(challenge.codeHash))) return { ok: false, target: null };
    if (!(await this.deps.claims.claim(`otp:${id}:${challenge.sentAt.getTime()}`, challenge.expiresAt)))
      return { ok: false, target: null };
    const consumed = await this.deps.challenges.updateOne(
      { _id: id, consumedAt: null, codeHash: challenge.codeHash },
      { $set: { consumedAt: now } },
    );
    if (consumed.modifiedCount !== 1) return { ok: false, target: null };
    return {
      ok: true,
      target: challenge.target ? this.deps.encryption.decrypt(challenge.target, `otp_challenges/${id}/target`) : null,
    };
  }

  /** Phone enrollment, step 1: text a code to the number. */
  async startSmsEnrollment(user: UserDoc, phone: string): Promise<{ expiresAt: Date }> {
    return this.sendCode(user, 'sms', 'enroll', phone);
  }

  /** Phone enrollment, step 2: the code proves the number; it is stored encrypted and SMS becomes a factor. */
  async confirmSmsEnrollment(user: UserDoc, code: string): Promise<{ backupCodes: string[] | null }> {
    const result = await this.verifyCode(user._id, 'sms', 'enroll', code);
    if (!result.ok || !result.target) throw AppError.badRequest('The code is not valid or has expired.');
    const doc = await this.deps.users.findById(user._id);
    if (!doc) throw AppError.notFound();
    doc.phone = result.target;
    doc.phoneVerified = true;
    doc.mfa.methods = [...new Set<SecondFactor>([...doc.mfa.methods, 'sms'])];
    doc.mfa.enrollmentRequired = false;
    await doc.save();
    await this.deps.audit.record({
      action: 'mfa.sms.enabled',
      outcome: 'succeeded',
      actorId: user._id,
      resource: 'user',
      resourceId: user._id,
      fields: ['phone'],
    });
    return { backupCodes: user.mfa.backupCodes.length ? null : await this.regenerateBackupCodes(user._id, true) };
  }

  async startEmailEnrollment(user: UserDoc): Promise<{ expiresAt: Date }> {
    return this.sendCode(user, 'email', 'enroll');
  }

  async confirmEmailEnrollment(user: UserDoc, code: string): Promise<{ backupCodes: string[] | null }> {
    const result = await this.verifyCode(user._id, 'email', 'enroll', code);
    if (!result.ok) throw AppError.badRequest('The code is not valid or has expired.');
    await this.deps.users.updateOne(
      { _id: user._id },
      { $addToSet: { 'mfa.methods': 'email' }, $set: { 'mfa.enrollmentRequired': false } },
    );
    await this.deps.audit.record({
      action: 'mfa.email.enabled',
      outcome: 'succeeded',
      actorId: user._id,
      resource: 'user',
      resourceId: user._id,
    });
    return { backupCodes: user.mfa.backupCodes.length ? null : await this.regenerateBackupCodes(user._id, true) };
  }

  // --- backup codes

  /** Codes have 50 bits of entropy: a keyed HMAC is enough (no bcrypt), and dashes/case do not matter. */
  private backupHash(userId: string, code: string): string {
    return this.codeHash(`backup:${userId}`, code.replace(/[^A-Z0-9]/gi, '').toUpperCase());
  }

  /** 10 new codes of 10 characters from a 32-letter alphabet (50 bits each), shown once; the old set stops working. */
  async regenerateBackupCodes(userId: string, silent = false): Promise<string[]> {
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, () => {
      const bytes = randomBytes(10);
      const chars = [...bytes].map((b) => BASE32[b % 32]).join('');
      return `${chars.slice(0, 5)}-${chars.slice(5)}`;
    });
    await this.deps.users.updateOne(
      { _id: userId },
      { $set: { 'mfa.backupCodes': codes.map((c) => ({ hash: this.backupHash(userId, c), usedAt: null })) } },
    );
    if (!silent)
      await this.deps.audit.record({
        action: 'mfa.backup-codes.regenerated',
        outcome: 'succeeded',
        actorId: userId,
        resource: 'user',
        resourceId: userId,
      });
    return codes;
  }

  /** Redeems one backup code (any order, once). Notifies the user by email; reports how many remain. */
  async useBackupCode(user: UserDoc, code: string): Promise<{ ok: boolean; remaining: number }> {
    const fresh = await this.deps.users.findById(user._id, { 'mfa.backupCodes': 1, email: 1 }).lean();
    const codes = fresh?.mfa.backupCodes ?? [];
    const hash = this.backupHash(user._id, code);
    const index = codes.findIndex((c) => c.usedAt === null && timingSafeEqual(Buffer.from(c.hash), Buffer.from(hash)));
    if (index < 0) return { ok: false, remaining: codes.filter((c) => c.usedAt === null).length };
    const path = `mfa.backupCodes.${index}`;
    // The claim decides between concurrent uses of one code and outlives a `usedAt` lost to a racing write.
    if (
      !(await this.deps.claims.claim(
        `backup:${user._id}:${hash}`,
        new Date(this.now().getTime() + 2 * 365 * 86_400_000),
      ))
    ) {
      return { ok: false, remaining: codes.filter((c) => c.usedAt === null).length - 1 };
    }
    const claimed = await this.deps.users.updateOne(
      { _id: user._id, [`${path}.hash`]: hash, [`${path}.usedAt`]: null },
      { $set: { [`${path}.usedAt`]: this.now() } },
    );
    if (claimed.modifiedCount !== 1) return { ok: false, remaining: codes.filter((c) => c.usedAt === null).length - 1 };
    const remaining = codes.filter((c) => c.usedAt === null).length - 1;
    await this.deps.audit.record({
      action: 'mfa.backup-code.used',
      outcome: 'succeeded',
      actorId: user._id,
      resource: 'user',
      resourceId: user._id,
      details: { remaining },
    });
    const warning =
      remaining <= BACKUP_CODES_LOW ? ` Only ${remaining} backup codes are left: generate a new set soon.` : '';
    await this.deps.email
      .send({
        to: user.email,
        subject: 'A backup code was used to sign in',
        text: `A backup code was just used to sign in to your ERP account.${warning} If this was not you, contact your administrator now.`,
      })
      .catch((err: unknown) =>
        this.deps.logger.warn({ err: { message: (err as Error).message } }, 'backup-code notice not delivered'),
      );
    return { ok: true, remaining };
  }

  /** Retention: one-time codes past their expiry are useless; delete them. */
  async purgeExpiredChallenges(): Promise<number> {
    return (await this.deps.challenges.deleteMany({ expiresAt: { $lte: this.now() } })).deletedCount;
  }

  /** Removes every factor (user's own disable, or an administrator's reset). */
  async clearFactors(userId: string, opts: { requireEnrollment: boolean }): Promise<void> {
    await this.deps.users.updateOne(
      { _id: userId },
      {
        $set: {
          'mfa.methods': [],
          'mfa.totpSecret': null,
          'mfa.totpPending': false,
          'mfa.backupCodes': [],
          'mfa.enrollmentRequired': opts.requireEnrollment,
          secondFactorFailures: 0,
        },
      },
    );
    await this.deps.challenges.deleteMany({ userId });
    await this.deps.passkeyCredentials.deleteMany({ userId });
    await this.deps.guard.resetAccountFactorAttempts(userId);
  }
}
