import { randomBytes } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { Models } from '../../models';
import { noSecondFactor } from '../../models/user.model';
import type { AuditTrail } from '../audit/audit-trail';
import type { AccessPolicy, RecordScope, ScopeFields } from '../access/access-policy';
import type { SessionService } from '../auth/session.service';
import type { EncryptionService } from '../encryption/encryption.service';
import type { EmailSender } from '../auth/senders';
import type { Logger } from '../../lib/logger';

/** Who asks for an export, as authenticate() and authorize() established it. */
export interface ExportRequester {
  userId: string;
  /** The record scope `gdpr:export` was granted with: `own` reaches only the caller. */
  scope: RecordScope;
  /** The session passed a second factor. */
  mfa: boolean;
}

/** A person's data is theirs: `own` reaches only the caller's account (department reach does not apply). */
const SUBJECT_SCOPE: ScopeFields = { owner: '_id' };
import type { VersionedWriter } from '../versioning/versioned-writer';

export interface SubjectExport {
  exportedAt: string;
  user: Record<string, unknown>;
  employeeRecords: Record<string, unknown>[];
  invoicesCreated: Record<string, unknown>[];
  sessions: Record<string, unknown>[];
  apiKeys: Record<string, unknown>[];
  /** Passkeys: names, dates, transports, the public credential id; never the public key bytes. */
  passkeys: Record<string, unknown>[];
  auditEntries: Record<string, unknown>[];
}

/**
 * Data-subject rights (GDPR arts. 15, 17, 20): everything held about one person as JSON,
 * and erasure by irreversible anonymisation. The audit trail holds ids, never personal
 * values, so erasure leaves its hash chain intact.
 *
 * The export is deliberately unmasked (the right of access covers the full values: salary,
 * national ID, IBAN), which makes it the most valuable read in the system: it needs a 2FA
 * session or the caller's password given again, is audited, and the person is e-mailed.
 */
export class GdprService {
  constructor(
    private readonly deps: {
      models: Models;
      policy: AccessPolicy;
      audit: AuditTrail;
      sessions: SessionService;
      encryption: EncryptionService;
      email: EmailSender;
      logger: Logger;
      /**
       * Re-authentication of a signed-in user: throws 403 on a wrong password, counted with
       * sign-in failures (AuthService.reauthenticate).
       */
      confirmPassword: (userId: string, password: string) => Promise<void>;
      /** Employee records are versioned: erasure is a change like any other (new ETag, never undone by a racing edit). */
      writer: VersionedWriter;
      now?: () => Date;
    },
  ) {}

  private now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  /**
   * Everything held about `userId`. Callers with `own` reach export only themselves (anyone
   * else looks absent: 404). A session without 2FA must give its password again.
   */
  async export(userId: string, actor: ExportRequester, confirmation: { password?: string }): Promise<SubjectExport> {
    const { User, Employee, Invoice, Session, ApiKey, AuditEvent, PasskeyCredential } = this.deps.models;
    if (!this.deps.policy.covers(actor.scope, SUBJECT_SCOPE, { _id: userId })) throw AppError.notFound('No such user.');
    if (!actor.mfa) {
      if (confirmation.password === undefined)
        throw new AppError({
          code: 'reauthentication-required',
          status: 403,
          title: 'Confirmation Required',
          detail: 'Exporting personal data needs a session that passed two-factor authentication, or your password.',
        });
      await this.deps.confirmPassword(actor.userId, confirmation.password);
    }
    const user = await User.findOne(this.deps.policy.restrict({ _id: userId }, actor.scope, SUBJECT_SCOPE)).lean();
    if (!user) throw AppError.notFound('No such user.');
    const [employees, invoices, sessions, keys, audit, passkeys] = await Promise.all([
      Employee.find({ userId }).lean(),
      Invoice.find({ createdBy: userId }).lean(),
      Session.find({ userId }, { refreshHash: 0 }).lean(),
      ApiKey.find({ ownerId: userId }, { hash: 0, previousHash: 0 }).lean(),
      AuditEvent.find({ actorId: userId }, { _id: 0, prevHash: 0, hash: 0 }).sort({ seq: 1 }).lean(),
      PasskeyCredential.find({ userId }, { publicKey: 0 }).sort({ createdAt: 1 }).lean(),
    ]);
    const exportedAt = this.now();
    const notified = await this.notifyExport(user.email, exportedAt, actor.userId === userId);
    await this.deps.audit.record({
      action: 'gdpr.exported',
      outcome: 'succeeded',
      actorId: actor.userId,
      resource: 'user',
      resourceId: userId,
      details: { confirmedBy: actor.mfa ? 'second-factor' : 'password', subjectNotified: notified },
    });
    return {
      exportedAt: exportedAt.toISOString(),
      user: {
        id: user._id,
        email: user.email,
        name: user.name,
        role: user.role,
        department: user.department,
        status: user.status,
        phone: user.phone,
        secondFactors: user.mfa.methods,
        createdAt: user.createdAt,
        updatedAt: user.updatedAt,
      },
      employeeRecords: employees.map(({ _id, ...e }) => ({ id: _id, ...e })),
      invoicesCreated: invoices.map(({ _id, ...i }) => ({ id: _id, ...i })),
      sessions: sessions.map(({ _id, ...s }) => ({ id: _id, ...s })),
      apiKeys: keys.map(({ _id, ...k }) => ({ id: _id, ...k })),
      passkeys: passkeys.map(({ _id, ...p }) => ({ id: _id, ...p })),
      auditEntries: audit as unknown as Record<string, unknown>[],
    };
  }

  /**
   * Tells the person a copy of their data left the system: a stolen session or password
   * shows up here. Mail trouble does not withhold the data (the right of access); the audit
   * entry records whether the notice went out.
   */
  private async notifyExport(to: string, at: Date, byThemself: boolean): Promise<boolean> {
    try {
      await this.deps.email.send({
        to,
        subject: 'A copy of your personal data was exported',
        text:
          `A complete copy of the personal data the ERP system holds about you was exported at ${at.toISOString()}` +
          (byThemself ? ' from your account.' : ' by an administrator.') +
          ' If you did not expect this, contact your security team.',
      });
      return true;
    } catch (err) {
      this.deps.logger.warn({ err: { message: (err as Error).message } }, 'export notice not delivered');
      return false;
    }
  }

  /**
   * Irreversibly anonymises a person: account identifiers replaced, secrets and contact
   * data removed, linked employee records stripped of personal data, sessions and keys
   * ended. Business records (invoices) keep the now-anonymous user id.
   */
  async erase(userId: string, actorId: string): Promise<{ employeeRecords: number }> {
    if (userId === actorId) throw AppError.forbidden('Ask another administrator to erase your own account.');
    const { User, Employee, ApiKey, OtpChallenge, Session, PasskeyCredential, PasskeyChallenge } = this.deps.models;
    const user = await User.findById(userId);
    if (!user) throw AppError.notFound('No such user.');
    const alias = `erased-${userId}@erased.invalid`;
    user.set({
      email: alias,
      emailLower: alias,
      name: 'Erased user',
      phone: null,
      phoneVerified: false,
      status: 'disabled',
      passwordHash: await this.deps.encryption.hashPassword(randomBytes(32).toString('base64url')),
      mfa: noSecondFactor(),
    });
    await user.save();
    const employees = await Employee.find({ userId }, { _id: 1 }).lean();
    for (const { _id } of employees) {
      const erased = {
        name: 'Erased employee',
        workEmail: `erased-${_id}@erased.invalid`,
        phone: null,
        nationalId: null,
        bankAccount: null,
        salary: null,
      };
      // Erasure must happen: a concurrent edit that won the record's version only delays it.
      for (let attempt = 1; ; attempt++) {
        const current = await Employee.findById(_id).lean();
        if (!current) break;
        try {
          await this.deps.writer.update(Employee, current, erased, 'employee record');
          break;
        } catch (err) {
          if (!(err instanceof AppError && err.code === 'stale-version') || attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 10 * attempt));
        }
      }
    }
    await this.deps.sessions.revokeAllForUser(userId, 'erased');
    // Where and from what device the person signed in is personal data too.
    await Session.updateMany({ userId }, { $set: { ip: null, userAgent: null } });
    await ApiKey.updateMany({ ownerId: userId, revokedAt: null }, { $set: { revokedAt: this.now() } });
    // Key names are free text ("Dana's laptop").
    await ApiKey.updateMany({ ownerId: userId }, { $set: { name: 'erased' } });
    await OtpChallenge.deleteMany({ userId });
    // Credential ids and names ("Dana's phone") identify the person; without the account they protect nothing.
    await PasskeyCredential.deleteMany({ userId });
    await PasskeyChallenge.deleteMany({ userId });
    await this.deps.audit.record({
      action: 'gdpr.erased',
      outcome: 'succeeded',
      actorId,
      resource: 'user',
      resourceId: userId,
      details: { employeeRecords: employees.length },
    });
    return { employeeRecords: employees.length };
  }
}
