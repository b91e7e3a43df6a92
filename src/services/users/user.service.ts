import { randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { noSecondFactor, type UserDoc, type UserModel, type UserStatus } from '../../models/user.model';
import type { EncryptionService } from '../encryption/encryption.service';
import type { AuditTrail } from '../audit/audit-trail';
import type { SessionService } from '../auth/session.service';
import type { TwoFactorAuthService } from '../two-factor-auth/two-factor-auth.service';
import type { EmailSender } from '../auth/senders';
import { assertAcceptablePassword } from '../auth/password-policy';

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  role: string;
  department: string | null;
  status: UserStatus;
  mfaMethods: string[];
  mfaEnrollmentRequired: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export function toPublicUser(u: UserDoc): PublicUser {
  return {
    id: u._id,
    email: u.email,
    name: u.name,
    role: u.role,
    department: u.department,
    status: u.status,
    mfaMethods: u.mfa.methods,
    mfaEnrollmentRequired: u.mfa.enrollmentRequired,
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

export interface UserServiceDeps {
  users: UserModel;
  encryption: EncryptionService;
  audit: AuditTrail;
  sessions: SessionService;
  twoFactor: TwoFactorAuthService;
  email: EmailSender;
  logger: Logger;
  /** Role names that exist (base and custom), for validation. */
  roleExists: (role: string) => Promise<boolean>;
}

export interface NewUser {
  email: string;
  name: string;
  role: string;
  department?: string | null;
  password: string;
}

/** User accounts: creation (admin API, CLI, bootstrap), listing, role/status changes, 2FA reset. */
export class UserService {
  constructor(private readonly deps: UserServiceDeps) {}

  async create(input: NewUser, actorId: string | null): Promise<PublicUser> {
    if (!(await this.deps.roleExists(input.role)))
      throw AppError.validation('Unknown role.', [{ path: 'body.role', message: `no role named ${input.role}` }]);
    assertAcceptablePassword(input.password, { email: input.email, name: input.name });
    const emailLower = input.email.trim().toLowerCase();
    const now = new Date();
    try {
      const doc = await this.deps.users.create({
        _id: randomUUID(),
        email: input.email.trim(),
        emailLower,
        name: input.name,
        role: input.role,
        department: input.department ?? null,
        status: 'active',
        passwordHash: await this.deps.encryption.hashPassword(input.password),
        passwordChangedAt: now,
        phone: null,
        phoneVerified: false,
        mfa: noSecondFactor(),
        secondFactorFailures: 0,
      });
      await this.deps.audit.record({
        action: 'user.created',
        outcome: 'succeeded',
        actorId,
        resource: 'user',
        resourceId: doc._id,
        fields: ['email', 'name', 'role', 'department'],
      });
      return toPublicUser(doc.toObject());
    } catch (err) {
      if ((err as { code?: number }).code === 11000)
        throw AppError.conflict('A user with this email already exists.', 'email-taken');
      throw err;
    }
  }

  async get(id: string): Promise<UserDoc> {
    const u = await this.deps.users.findById(id).lean();
    if (!u) throw AppError.notFound('No such user.');
    return u;
  }

  async list(q: {
    page: number;
    limit: number;
    role?: string;
    status?: UserStatus;
    department?: string;
  }): Promise<{ items: PublicUser[]; total: number }> {
    const filter: Record<string, string> = {};
    if (q.role) filter.role = q.role;
    if (q.status) filter.status = q.status;
    if (q.department) filter.department = q.department;
    const [items, total] = await Promise.all([
      this.deps.users
        .find(filter)
        .sort({ createdAt: 1, _id: 1 })
        .skip((q.page - 1) * q.limit)
        .limit(q.limit)
        .lean(),
      this.deps.users.countDocuments(filter),
    ]);
    return { items: items.map(toPublicUser), total };
  }

  /** Role, department or status changes end the user's sessions, so tokens with stale claims die at once. */
  async update(
    id: string,
    changes: { role?: string; department?: string | null; status?: UserStatus; name?: string },
    actorId: string,
  ): Promise<PublicUser> {
    if (changes.role !== undefined && !(await this.deps.roleExists(changes.role))) {
      throw AppError.validation('Unknown role.', [{ path: 'body.role', message: `no role named ${changes.role}` }]);
    }
    if (id === actorId && (changes.role !== undefined || changes.status !== undefined))
      throw AppError.forbidden('You cannot change your own role or status.');
    const before = await this.get(id);
    const updated = await this.deps.users
      .findOneAndUpdate({ _id: id }, { $set: changes }, { returnDocument: 'after' })
      .lean();
    if (!updated) throw AppError.notFound('No such user.');
    const fields = Object.keys(changes).filter(
      (k) => (before as unknown as Record<string, unknown>)[k] !== (changes as Record<string, unknown>)[k],
    );
    if (fields.some((f) => f === 'role' || f === 'department' || f === 'status'))
      await this.deps.sessions.revokeAllForUser(id, 'account-changed');
    await this.deps.audit.record({
      action: 'user.updated',
      outcome: 'succeeded',
      actorId,
      resource: 'user',
      resourceId: id,
      fields,
    });
    return toPublicUser(updated);
  }

  /**
   * A user's own name and phone. A phone that receives SMS sign-in codes is not changed here:
   * a stolen access token must not redirect them; SMS enrollment verifies a new number by code.
   * A phone set here is contact data and unverified. Audited by field names, never values.
   */
  async updateOwnProfile(id: string, changes: { name?: string; phone?: string | null }): Promise<UserDoc> {
    const before = await this.get(id);
    const phoneChanges = changes.phone !== undefined && changes.phone !== before.phone;
    if (phoneChanges && before.mfa.methods.includes('sms'))
      throw AppError.conflict(
        'This number receives your sign-in codes. Change it with POST /api/v1/auth/2fa/sms/setup, which verifies the new number.',
        'phone-is-second-factor',
      );
    const $set: Partial<UserDoc> = {};
    if (changes.name !== undefined) $set.name = changes.name;
    if (phoneChanges) Object.assign($set, { phone: changes.phone ?? null, phoneVerified: false });
    const updated = await this.deps.users
      .findOneAndUpdate(
        // The SMS check holds at the write too (an SMS enrollment may have landed in between).
        phoneChanges ? { _id: id, 'mfa.methods': { $ne: 'sms' } } : { _id: id },
        { $set },
        { returnDocument: 'after' },
      )
      .lean();
    if (!updated) throw AppError.conflict('Your second factors changed meanwhile; try again.');
    const fields = (['name', 'phone'] as const).filter((f) =>
      f === 'phone' ? phoneChanges : changes[f] !== undefined && changes[f] !== before[f],
    );
    await this.deps.audit.record({
      action: 'profile.updated',
      outcome: 'succeeded',
      actorId: id,
      resource: 'user',
      resourceId: id,
      fields,
    });
    return updated;
  }

  /** An administrator's reset of another user's 2FA: audited, the user is told, and must enroll again. */
  async resetSecondFactors(id: string, actorId: string): Promise<void> {
    if (id === actorId) throw AppError.forbidden('Reset your own second factor through the regular disable flow.');
    const user = await this.get(id);
    await this.deps.twoFactor.clearFactors(id, { requireEnrollment: true });
    await this.deps.sessions.revokeAllForUser(id, 'mfa-reset');
    await this.deps.audit.record({
      action: 'mfa.reset-by-admin',
      outcome: 'succeeded',
      actorId,
      resource: 'user',
      resourceId: id,
    });
    await this.deps.email
      .send({
        to: user.email,
        subject: 'Your two-factor authentication was reset',
        text: 'An administrator reset the two-factor authentication of your ERP account. You will be asked to set it up again at your next sign-in. If you did not ask for this, contact your security team.',
      })
      .catch((err: unknown) =>
        this.deps.logger.warn({ err: { message: (err as Error).message } }, '2FA reset notice not delivered'),
      );
  }

  /** Creates the first admin from bootstrap settings; refused once any admin exists. */
  async bootstrapAdmin(email: string, password: string): Promise<PublicUser | null> {
    if (await this.deps.users.exists({ role: 'admin' })) return null;
    return this.create({ email, name: 'Administrator', role: 'admin', password }, null);
  }
}
