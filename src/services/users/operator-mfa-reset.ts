import type { UserModel } from '../../models/user.model';
import type { AccessPolicy } from '../access/access-policy';
import type { AuditTrail } from '../audit/audit-trail';
import type { TwoFactorAuthService } from '../two-factor-auth/two-factor-auth.service';
import type { UserService } from './user.service';

export const MFA_RESET_PERMISSION = 'user:mfa-reset:any';

/**
 * The operator's door to an admin 2FA reset (`cli user:mfa-reset`): the same rules as
 * `POST /api/v1/users/:id/2fa/reset`. The named admin must hold `user:mfa-reset:any` and prove
 * their own second factor now (an authenticator code, or one of their backup codes), since the
 * CLI has no session that passed 2FA. Every refusal is audited against the admin.
 */
export class OperatorMfaReset {
  constructor(
    private readonly deps: {
      users: UserModel;
      userService: UserService;
      twoFactor: TwoFactorAuthService;
      policy: AccessPolicy;
      audit: AuditTrail;
    },
  ) {}

  async reset(input: { userEmail: string; adminEmail: string; adminCode: string }): Promise<{ userId: string }> {
    const admin = await this.deps.users.findOne({ emailLower: input.adminEmail.trim().toLowerCase() }).lean();
    if (!admin || admin.status !== 'active') throw new Error(`no active account ${input.adminEmail}`);
    const refuse = async (reason: string, message: string): Promise<never> => {
      await this.deps.audit.record({
        action: 'mfa.reset-by-admin',
        outcome: 'denied',
        actorId: admin._id,
        actorRole: admin.role,
        resource: 'user',
        details: { reason, via: 'cli' },
      });
      throw new Error(message);
    };
    const decision = await this.deps.policy.decide(
      { kind: 'user', userId: admin._id, role: admin.role, department: admin.department ?? null, mfa: true },
      MFA_RESET_PERMISSION,
    );
    if (!decision.allowed)
      return refuse('missing-permission', `${input.adminEmail} does not hold ${MFA_RESET_PERMISSION}`);
    const code = input.adminCode.trim();
    const proven = /^\d{6}$/.test(code)
      ? (await this.deps.twoFactor.checkTotpForUser(admin, code)) === 'ok'
      : code.length > 0 && (await this.deps.twoFactor.useBackupCode(admin, code)).ok;
    if (!proven)
      return refuse(
        'second-factor',
        `the code is not a valid authenticator or backup code of ${input.adminEmail} (the admin's own second factor is required)`,
      );
    const user = await this.deps.users.findOne({ emailLower: input.userEmail.trim().toLowerCase() }, { _id: 1 });
    if (!user) throw new Error(`no account ${input.userEmail}`);
    await this.deps.userService.resetSecondFactors(user._id, admin._id);
    return { userId: user._id };
  }
}
