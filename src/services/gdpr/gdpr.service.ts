import { randomBytes } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { Models } from '../../models';
import type { AuditTrail } from '../audit/audit-trail';
import type { SessionService } from '../auth/session.service';
import type { EncryptionService } from '../encryption/encryption.service';
import type { VersionedWriter } from '../versioning/versioned-writer';

export interface SubjectExport {
  exportedAt: string;
  user: Record<string, unknown>;
  employeeRecords: Record<string, unknown>[];
  invoicesCreated: Record<string, unknown>[];
  sessions: Record<string, unknown>[];
  apiKeys: Record<string, unknown>[];
  auditEntries: Record<string, unknown>[];
}

/**
 * Data-subject rights (GDPR arts. 15, 17, 20): everything held about one person as JSON,
 * and erasure by irreversible anonymisation. The audit trail holds ids, never personal
 * values, so erasure leaves its hash chain intact.
 */
export class GdprService {
  constructor(
    private readonly deps: {
      models: Models;
      audit: AuditTrail;
      sessions: SessionService;
      encryption: EncryptionService;
      /** Employee records are versioned: erasure is a change like any other (new ETag, never undone by a racing edit). */
      writer: VersionedWriter;
      now?: () => Date;
    },
  ) {}

  private now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  async export(userId: string, actorId: string): Promise<SubjectExport> {
    const { User, Employee, Invoice, Session, ApiKey, AuditEvent } = this.deps.models;
    const user = await User.findById(userId).lean();
    if (!user) throw AppError.notFound('No such user.');
    const [employees, invoices, sessions, keys, audit] = await Promise.all([
      Employee.find({ userId }).lean(),
      Invoice.find({ createdBy: userId }).lean(),
      Session.find({ userId }, { refreshHash: 0 }).lean(),
      ApiKey.find({ ownerId: userId }, { hash: 0, previousHash: 0 }).lean(),
      AuditEvent.find({ actorId: userId }, { _id: 0, prevHash: 0, hash: 0 }).sort({ seq: 1 }).lean(),
    ]);
    await this.deps.audit.record({
      action: 'gdpr.exported',
      outcome: 'succeeded',
      actorId,
      resource: 'user',
      resourceId: userId,
    });
    return {
      exportedAt: this.now().toISOString(),
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
      auditEntries: audit as unknown as Record<string, unknown>[],
    };
  }

  /**
   * Irreversibly anonymises a person: account identifiers replaced, secrets and contact
   * data removed, linked employee records stripped of personal data, sessions and keys
   * ended. Business records (invoices) keep the now-anonymous user id.
   */
  async erase(userId: string, actorId: string): Promise<{ employeeRecords: number }> {
    if (userId === actorId) throw AppError.forbidden('Ask another administrator to erase your own account.');
    const { User, Employee, ApiKey, OtpChallenge, Session } = this.deps.models;
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
      mfa: {
        methods: [],
        totpSecret: null,
        totpPending: false,
        totpLastStep: 0,
        backupCodes: [],
        enrollmentRequired: false,
      },
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
