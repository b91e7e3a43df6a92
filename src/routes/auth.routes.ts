import { Router, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { route, type RouteDoc } from '../middleware/validate';
import { requireAuth } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
import type { Authorize } from '../middleware/rbac';
import type { AccessPolicy } from '../services/access/access-policy';
import { maskPhone } from '../services/encryption/masking';
import type { AuthService } from '../services/auth/auth.service';
import type { SecondFactor, UserDoc } from '../models/user.model';
import type { TwoFactorAuthService } from '../services/two-factor-auth/two-factor-auth.service';
import type { UserService } from '../services/users/user.service';
import { toPublicUser } from '../services/users/user.service';

export interface AuthRoutesDeps {
  auth: AuthService;
  twoFactor: TwoFactorAuthService;
  users: UserService;
  authenticate: Authenticate;
  authorize: Authorize;
  /** Decides which of the caller's grants it may use now (GET /permissions). */
  policy: AccessPolicy;
  /** The auth rate-limit tier (login, 2FA verify, password change); pass-through when absent. */
  authLimiter?: RequestHandler;
}

const email = z.string().trim().email().max(254);
const code = z.string().trim().min(6).max(32);
const mfaToken = z.string().min(20).max(2048);
const password = z.string().min(1).max(1024);
const method = z.enum(['totp', 'sms', 'email', 'backup']);
const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number such as +4930123456');

/** The caller's own account: the public fields plus their phone, masked like everywhere else it leaves. */
const ownProfile = (u: UserDoc) => ({
  ...toPublicUser(u),
  phone: u.phone ? maskPhone(u.phone) : null,
  phoneVerified: u.phoneVerified,
});

/** The login answer: tokens, or a second-factor challenge to answer at /2fa/verify. */
const loginResponse = z.union([
  z.object({
    mfaRequired: z.literal(false),
    accessToken: z.string(),
    refreshToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int(),
    enrollmentRequired: z.boolean(),
  }),
  z.object({ mfaRequired: z.literal(true), mfaToken: z.string(), methods: z.array(z.string()) }),
]);
const LOGIN_DOC: RouteDoc = {
  summary: 'Sign in with email and password',
  description: 'Answers tokens, or an mfaToken when a second factor is enrolled. Behind the auth rate-limit tier.',
  responses: { 200: { description: 'Signed in, or a second factor is required.', schema: loginResponse } },
  example: { body: { email: 'docs.example@erp.example', password: 'Correct-Horse-Battery-9' }, status: 200 },
};

const PERMISSIONS_DOC: RouteDoc = {
  summary: "The caller's effective permissions",
  description:
    'The grants this session may use now (resource:action:possession), and those its role holds that need a session that passed two-factor authentication.',
  responses: {
    200: {
      description: 'Effective permissions.',
      schema: z.object({
        role: z.string(),
        mfa: z.boolean(),
        permissions: z.array(z.string()),
        needSecondFactor: z.array(z.string()),
      }),
    },
  },
};

/** /api/v1/auth: sign-in, sessions and second-factor enrollment. Every answer is no-store. */
export function authRoutes(deps: AuthRoutesDeps): Router {
  const router = Router();
  const limit: RequestHandler = deps.authLimiter ?? ((_req, _res, next) => next());
  // Sessions, factors and passwords belong to people: an API key (a machine credential)
  // may not end sessions, send codes or touch factors.
  const peopleOnly: RequestHandler = (_req, res, next) => {
    if (requireAuth(res).kind === 'apiKey')
      throw AppError.forbidden('API keys cannot use session and second-factor routes.');
    next();
  };
  const user = [deps.authenticate(), peopleOnly];
  const enrolling = [deps.authenticate({ allowEnrollmentOnly: true }), peopleOnly];
  // Confirming a factor proves it: the session it was enrolled from becomes a 2FA session.
  const upgradeSession = async (res: Response, method: SecondFactor) => {
    const a = requireAuth(res);
    return a.sessionId ? ((await deps.auth.secondFactorEnrolled(a.userId, a.sessionId, method)) ?? {}) : {};
  };
  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  router.post(
    '/login',
    limit,
    route({ body: z.strictObject({ email, password }), doc: LOGIN_DOC }, async ({ body, res }) => {
      res.json(await deps.auth.login(body.email, body.password));
    }),
  );

  router.post(
    '/refresh',
    route({ body: z.strictObject({ refreshToken: z.string().min(10).max(200) }) }, async ({ body, res }) => {
      res.json(await deps.auth.refresh(body.refreshToken));
    }),
  );

  router.post(
    '/logout',
    enrolling,
    route({}, async ({ res }) => {
      const a = requireAuth(res);
      if (!a.sessionId) throw AppError.badRequest('API keys have no session to end.');
      await deps.auth.logout(a.sessionId, a.userId);
      res.status(204).end();
    }),
  );

  router.post(
    '/logout-all',
    enrolling,
    route({}, async ({ res }) => {
      res.json({ sessionsEnded: await deps.auth.logoutAll(requireAuth(res).userId) });
    }),
  );

  router.post(
    '/password',
    limit,
    user,
    route({ body: z.strictObject({ currentPassword: password, newPassword: password }) }, async ({ body, res }) => {
      const a = requireAuth(res);
      if (!a.sessionId) throw AppError.forbidden('Passwords are changed from a signed-in session.');
      await deps.auth.changePassword(a.userId, a.sessionId, body.currentPassword, body.newPassword);
      res.status(204).end();
    }),
  );

  // Who the token says the caller is, without a database read (cheap for frontends to poll).
  router.get(
    '/session',
    enrolling,
    route({}, ({ res }) => {
      const a = requireAuth(res);
      res.json({
        userId: a.userId,
        role: a.role,
        department: a.department,
        mfa: a.mfa,
        enrollmentRequired: a.enrollmentOnly,
        kind: a.kind,
      });
    }),
  );

  // What this session may do, so a frontend shows only the doors it may open instead of
  // probing each one for a 403. The API still enforces every permission on every call.
  router.get(
    '/permissions',
    user,
    route({ doc: PERMISSIONS_DOC }, async ({ res }) => {
      const a = requireAuth(res);
      const held = [...(await deps.policy.grantsOf(a))].sort();
      const decisions = await Promise.all(held.map((g) => deps.policy.decide(a, g)));
      res.json({
        role: a.role,
        mfa: a.mfa,
        permissions: decisions.filter((d) => d.allowed).map((d) => d.permission),
        needSecondFactor: decisions.filter((d) => !d.allowed && d.reason === 'mfa-required').map((d) => d.permission),
      });
    }),
  );

  router.get(
    '/me',
    enrolling,
    route({}, async ({ res }) => {
      const a = requireAuth(res);
      const u = await deps.users.get(a.userId);
      res.json({
        ...ownProfile(u),
        sessionMfa: a.mfa,
        enrollmentRequired: a.enrollmentOnly,
        backupCodesRemaining: u.mfa.backupCodes.filter((c) => c.usedAt === null).length,
      });
    }),
  );

  // Password changes stay at POST /password (they need the current one and end other sessions).
  router.patch(
    '/me',
    user,
    deps.authorize('profile:update:own'),
    route(
      {
        body: z
          .strictObject({ name: z.string().trim().min(1).max(200).optional(), phone: e164.nullable().optional() })
          .refine((b) => b.name !== undefined || b.phone !== undefined, 'give name and/or phone'),
      },
      async ({ body, res }) => {
        res.json(ownProfile(await deps.users.updateOwnProfile(requireAuth(res).userId, body)));
      },
    ),
  );

  // --- second step of a login

  router.post(
    '/2fa/challenge',
    limit,
    route({ body: z.strictObject({ mfaToken, method: z.enum(['sms', 'email']) }) }, async ({ body, res }) => {
      res.status(202).json(await deps.auth.challenge(body.mfaToken, body.method));
    }),
  );

  router.post(
    '/2fa/verify',
    limit,
    route({ body: z.strictObject({ mfaToken, method, code }) }, async ({ body, res }) => {
      res.json(await deps.auth.verifySecondFactor(body.mfaToken, body.method, body.code));
    }),
  );

  // --- enrollment (reachable by enrollment-only sessions)

  // Adding a factor or replacing backup codes needs the password again: with an access token
  // alone, a thief could add their own phone or authenticator and keep access for good.
  router.post(
    '/2fa/totp/setup',
    limit,
    enrolling,
    route({ body: z.strictObject({ password }) }, async ({ body, res }) => {
      res.json(
        await deps.twoFactor.setupTotp(
          await deps.auth.reauthenticate(requireAuth(res).userId, body.password, 'mfa.totp.setup'),
        ),
      );
    }),
  );

  router.post(
    '/2fa/totp/enable',
    limit,
    enrolling,
    route({ body: z.strictObject({ code }) }, async ({ body, res }) => {
      const enrolled = await deps.twoFactor.enableTotp(await deps.users.get(requireAuth(res).userId), body.code);
      res.json({ ...enrolled, ...(await upgradeSession(res, 'totp')) });
    }),
  );

  router.post(
    '/2fa/sms/setup',
    limit,
    enrolling,
    route({ body: z.strictObject({ password, phone: e164 }) }, async ({ body, res }) => {
      res
        .status(202)
        .json(
          await deps.twoFactor.startSmsEnrollment(
            await deps.auth.reauthenticate(requireAuth(res).userId, body.password, 'mfa.sms.setup'),
            body.phone,
          ),
        );
    }),
  );

  router.post(
    '/2fa/sms/enable',
    limit,
    enrolling,
    route({ body: z.strictObject({ code }) }, async ({ body, res }) => {
      const enrolled = await deps.twoFactor.confirmSmsEnrollment(
        await deps.users.get(requireAuth(res).userId),
        body.code,
      );
      res.json({ ...enrolled, ...(await upgradeSession(res, 'sms')) });
    }),
  );

  router.post(
    '/2fa/email/setup',
    limit,
    enrolling,
    route({ body: z.strictObject({ password }) }, async ({ body, res }) => {
      res
        .status(202)
        .json(
          await deps.twoFactor.startEmailEnrollment(
            await deps.auth.reauthenticate(requireAuth(res).userId, body.password, 'mfa.email.setup'),
          ),
        );
    }),
  );

  router.post(
    '/2fa/email/enable',
    limit,
    enrolling,
    route({ body: z.strictObject({ code }) }, async ({ body, res }) => {
      const enrolled = await deps.twoFactor.confirmEmailEnrollment(
        await deps.users.get(requireAuth(res).userId),
        body.code,
      );
      res.json({ ...enrolled, ...(await upgradeSession(res, 'email')) });
    }),
  );

  router.post(
    '/2fa/backup-codes',
    limit,
    user,
    route({ body: z.strictObject({ password }) }, async ({ body, res }) => {
      const a = requireAuth(res);
      if (!a.mfa) throw AppError.forbidden('Sign in with your second factor to generate new backup codes.');
      await deps.auth.reauthenticate(a.userId, body.password, 'mfa.backup-codes.regenerate');
      res.json({ backupCodes: await deps.twoFactor.regenerateBackupCodes(a.userId) });
    }),
  );

  // A fresh SMS/email code for a signed-in user (e.g. to confirm turning 2FA off).
  router.post(
    '/2fa/code',
    limit,
    user,
    route({ body: z.strictObject({ method: z.enum(['sms', 'email']) }) }, async ({ body, res }) => {
      const u = await deps.users.get(requireAuth(res).userId);
      if (!u.mfa.methods.includes(body.method))
        throw AppError.badRequest(`${body.method} is not enrolled for this account.`);
      res.status(202).json(await deps.twoFactor.sendCode(u, body.method, 'step-up'));
    }),
  );

  router.post(
    '/2fa/disable',
    limit,
    user,
    route({ body: z.strictObject({ password, method, code }) }, async ({ body, res }) => {
      await deps.auth.disableSecondFactors(requireAuth(res).userId, body.password, body.method, body.code);
      res.status(204).end();
    }),
  );

  return router;
}
