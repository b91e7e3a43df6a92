import { randomUUID } from 'node:crypto';
import { buildTestApp, type TestApp } from '../../support/app';
import { AccessPolicy, type Caller, type RecordScope } from '../../../src/services/access/access-policy';
import { createUser } from '../../support/users';

const session = (role: string, over: Partial<Caller> = {}): Caller => ({
  kind: 'user',
  userId: randomUUID(),
  role,
  department: 'sales',
  mfa: true,
  ...over,
});

describe('AccessPolicy', () => {
  let t: TestApp;
  let policy: AccessPolicy;
  const withThresholds = (roles: string[]) =>
    new AccessPolicy({ roles: t.container.deps.access.roles, mfaRequiredRoles: roles });

  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10' });
    policy = t.container.deps.access.policy;
    const roles = t.container.deps.access.roles;
    await roles.upsert('team-lead', { parent: 'manager', grants: [] }, 'test');
    await roles.upsert('approver', { parent: 'user', grants: ['invoice:approve:own'] }, 'test');
    await roles.upsert('clerk-plus', { parent: 'user', grants: ['invoice:create:own'] }, 'test');
    await roles.upsert('auditor', { parent: 'user', grants: ['audit:read:any'] }, 'test');
  });
  afterAll(() => t.close());

  describe('decide', () => {
    it('when a manager session asks for invoice:read, then own possession with department scope, no 2FA needed', async () => {
      const caller = session('manager', { mfa: false });
      expect(await policy.decide(caller, 'invoice:read')).toEqual({
        allowed: true,
        permission: 'invoice:read',
        reason: 'granted',
        possession: 'own',
        needs2fa: false,
        scope: { kind: 'department', userId: caller.userId, department: 'sales' },
      });
    });

    it('when a manager has no department, then own reach stays own', async () => {
      const d = await policy.decide(session('manager', { department: null }), 'invoice:read');
      expect(d.scope?.kind).toBe('own');
    });

    it('when an admin session without 2FA asks for any reach or an admin-only permission, then mfa-required', async () => {
      const admin = session('admin', { mfa: false });
      expect(await policy.decide(admin, 'employee:read')).toMatchObject({
        allowed: false,
        reason: 'mfa-required',
        possession: 'any',
        needs2fa: true,
      });
      expect(await policy.decide(admin, 'audit:read')).toMatchObject({ allowed: false, reason: 'mfa-required' });
      expect(await policy.decide(admin, 'profile:read')).toMatchObject({ allowed: true, needs2fa: false });
    });

    it('when a role lacks the permission, or the named possession, then missing-permission', async () => {
      expect(await policy.decide(session('user'), 'invoice:approve')).toMatchObject({
        allowed: false,
        reason: 'missing-permission',
        scope: null,
      });
      expect(await policy.decide(session('manager'), 'invoice:read:any')).toMatchObject({
        allowed: false,
        reason: 'missing-permission',
      });
      expect(await policy.decide(session('admin'), 'invoice:read:own')).toMatchObject({
        allowed: true,
        possession: 'any',
      });
    });

    it("when an API key asks, then only grants among its scopes count, and its reach follows them, not the owner's role", async () => {
      const key = (scopes: string[]) => session('manager', { kind: 'apiKey', mfa: false, scopes });
      expect((await policy.decide(key(['invoice:read:own']), 'invoice:read')).scope?.kind).toBe('own');
      expect((await policy.decide(key(['invoice:read:own', 'scope:department:own']), 'invoice:read')).scope?.kind).toBe(
        'department',
      );
      expect(await policy.decide(key(['invoice:read:own']), 'invoice:approve')).toMatchObject({
        reason: 'missing-permission',
      });
      // A key has no session: its 2FA reach was checked when it was minted.
      const adminKey = session('admin', { kind: 'apiKey', mfa: false, scopes: ['employee:read:any'] });
      expect(await policy.decide(adminKey, 'employee:read')).toMatchObject({ allowed: true, needs2fa: true });
      // A scope the owner no longer holds gives nothing.
      expect(
        await policy.decide(session('user', { kind: 'apiKey', scopes: ['invoice:read:any'] }), 'invoice:read'),
      ).toMatchObject({ allowed: false });
    });
  });

  describe('record scope', () => {
    const own: RecordScope = { kind: 'own', userId: 'u1', department: 'sales' };
    const dept: RecordScope = { kind: 'department', userId: 'u1', department: 'sales' };
    const fields = { owner: 'createdBy', department: 'department' };

    it('when scoping, then the filter and the in-hand check agree', () => {
      expect(policy.filter(own, fields)).toEqual({ createdBy: 'u1' });
      expect(policy.filter(dept, fields)).toEqual({ $or: [{ department: 'sales' }, { createdBy: 'u1' }] });
      expect(policy.filter({ ...own, kind: 'any' }, fields)).toEqual({});
      expect(policy.covers(own, fields, { createdBy: 'u2', department: 'sales' })).toBe(false);
      expect(policy.covers(dept, fields, { createdBy: 'u2', department: 'sales' })).toBe(true);
      expect(policy.covers(dept, fields, { createdBy: 'u2', department: 'it' })).toBe(false);
    });

    it('when a resource has no department field, then department reach is the own reach', () => {
      expect(policy.filter(dept, { owner: '_id' })).toEqual({ _id: 'u1' });
      expect(policy.covers(dept, { owner: '_id' }, { _id: 'u2', department: 'sales' })).toBe(false);
      expect(policy.fieldContext(dept, { owner: '_id' }, { _id: 'u2' }).managesRecord).toBe(false);
    });

    it('when a scope on _id restricts a lookup by _id, then it cannot replace the record asked for', async () => {
      const me = await createUser(t, 'me@policy.example');
      const other = await createUser(t, 'other@policy.example');
      const scope: RecordScope = { kind: 'own', userId: me, department: null };
      const User = t.container.models.User;
      expect(await User.findOne(policy.restrict({ _id: other }, scope, { owner: '_id' })).lean()).toBeNull();
      expect((await User.findOne(policy.restrict({ _id: me }, scope, { owner: '_id' })).lean())?._id).toBe(me);
    });
  });

  describe('second factor', () => {
    it('when MFA_REQUIRED_ROLES is admin,manager, then every role holding a manager-level or administrative grant must enroll, custom ones included', async () => {
      const p = withThresholds(['admin', 'manager']);
      const answers: Record<string, boolean> = {};
      for (const role of ['guest', 'user', 'manager', 'admin', 'team-lead', 'approver', 'clerk-plus', 'auditor'])
        answers[role] = await p.requiresSecondFactor(role);
      expect(answers).toEqual({
        guest: false,
        user: false,
        manager: true,
        admin: true,
        'team-lead': true,
        approver: true,
        'clerk-plus': false,
        auditor: true,
      });
    });

    it('when MFA_REQUIRED_ROLES is admin only, then only administrative grants require it', async () => {
      const p = withThresholds(['admin']);
      expect(await p.requiresSecondFactor('manager')).toBe(false);
      expect(await p.requiresSecondFactor('team-lead')).toBe(false);
      expect(await p.requiresSecondFactor('auditor')).toBe(true);
      expect(await p.requiresSecondFactor('admin')).toBe(true);
    });

    it('when MFA_REQUIRED_ROLES is empty, then nobody must enroll; when it names a custom role, then the policy refuses to start', async () => {
      expect(await withThresholds([]).requiresSecondFactor('admin')).toBe(false);
      expect(() => withThresholds(['team-lead'])).toThrow(/not base roles: team-lead/);
    });

    it('when a session without 2FA mints a key with any reach or an admin-only scope, then mfa-required; with own reach, allowed', () => {
      const noMfa = session('admin', { mfa: false });
      expect(() => policy.assertMayMint(noMfa, ['invoice:read:own', 'invoice:read:any'])).toThrow(
        expect.objectContaining({ code: 'mfa-required', status: 403 }),
      );
      expect(() => policy.assertMayMint(noMfa, ['audit:read:any'])).toThrow(
        expect.objectContaining({ code: 'mfa-required' }),
      );
      expect(() => policy.assertMayMint(noMfa, ['invoice:read:own', 'scope:department:own'])).not.toThrow();
      expect(() => policy.assertMayMint(session('admin'), ['audit:read:any'])).not.toThrow();
    });
  });
});
