import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { route, type RouteDoc } from '../middleware/validate';
import { requireAuth } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
import type { AuthService } from '../services/auth/auth.service';
import type { PasskeyService } from '../services/passkeys/passkey.service';

export interface PasskeyRoutesDeps {
  passkeys: PasskeyService;
  auth: AuthService;
  authenticate: Authenticate;
  /** The auth rate-limit tier (sign-in steps, re-authentication); pass-through when absent. */
  authLimiter?: RequestHandler;
}

const base64url = z
  .string()
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');
const mfaToken = z.string().min(20).max(2048);
const password = z.string().min(1).max(1024);
const name = z.string().trim().min(1).max(64);
const extensions = z.record(z.string(), z.unknown());
/** A credential id: WebAuthn allows up to 1023 bytes, 1364 base64url characters. */
const credentialId = base64url.min(1).max(1364);

/** What @simplewebauthn/browser's startRegistration() resolves to (PublicKeyCredential.toJSON()). */
const registrationResponse = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url.min(1),
    attestationObject: base64url.min(1),
    authenticatorData: base64url.optional(),
    transports: z.array(z.string().max(32)).max(8).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: base64url.optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: extensions,
});

/** What startAuthentication() resolves to. */
const authenticationResponse = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url.min(1),
    authenticatorData: base64url.min(1),
    signature: base64url.min(1),
    userHandle: base64url.max(1024).optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: extensions,
});

const passkeyView = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  transports: z.array(z.string()),
  backedUp: z.boolean(),
  deviceType: z.string(),
});
const tokenPair = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int(),
  enrollmentRequired: z.boolean(),
});
const options = z.object({ challenge: z.string() }).loose();

const doc = (summary: string, description: string, responses: RouteDoc['responses']): RouteDoc => ({
  summary,
  description,
  responses,
});

/**
 * /api/v1/auth/passkeys: WebAuthn ceremonies (register, second step, passwordless) and the
 * owner's list of passkeys. Every answer is no-store.
 */
export function passkeyRoutes(deps: PasskeyRoutesDeps): Router {
  const router = Router();
  const limit: RequestHandler = deps.authLimiter ?? ((_req, _res, next) => next());
  // Passkeys belong to people: an API key may not list, add or remove them.
  const peopleOnly: RequestHandler = (_req, res, next) => {
    if (requireAuth(res).kind === 'apiKey') throw AppError.forbidden('API keys cannot manage passkeys.');
    next();
  };
  const user = [deps.authenticate(), peopleOnly];
  // A first factor may be enrolled from an enrollment-only session, as with the other factors.
  const enrolling = [deps.authenticate({ allowEnrollmentOnly: true }), peopleOnly];
  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  router.post(
    '/registration/options',
    limit,
    enrolling,
    route(
      {
        body: z.strictObject({ password }),
        doc: doc(
          'Start registering a passkey',
          'Needs the password again, and a 2FA session when the account already has a second factor. Answers the options for navigator.credentials.create() (startRegistration).',
          { 200: { description: 'PublicKeyCredentialCreationOptionsJSON.', schema: options } },
        ),
      },
      async ({ body, res }) => {
        const a = requireAuth(res);
        if (!a.sessionId) throw AppError.forbidden('Passkeys are registered from a signed-in session.');
        const u = await deps.auth.reauthenticate(a.userId, body.password, 'mfa.passkey.setup');
        // With a factor enrolled, only a session that passed it may add another (else a stolen password adds one).
        if (u.mfa.methods.length > 0 && !a.mfa)
          throw new AppError({
            code: 'second-factor-session-required',
            status: 403,
            title: 'Second Factor Required',
            detail: 'Sign in with your second factor to add a passkey.',
          });
        res.json(await deps.passkeys.registrationOptions(u, a.sessionId));
      },
    ),
  );

  router.post(
    '/registration/verify',
    limit,
    enrolling,
    route(
      {
        body: z.strictObject({ credential: registrationResponse, name: name.optional() }),
        doc: doc(
          'Finish registering a passkey',
          'Takes what startRegistration() resolved to. Answers the stored passkey, backup codes when it is the first factor, and (when it is) an upgraded access token for this session.',
          { 201: { description: 'The passkey was stored.' } },
        ),
      },
      async ({ body, res }) => {
        const a = requireAuth(res);
        if (!a.sessionId) throw AppError.forbidden('Passkeys are registered from a signed-in session.');
        const added = await deps.passkeys.verifyRegistration(a.userId, a.sessionId, body.credential, body.name);
        // Proving a new factor upgrades the session it was registered from, as for the other factors.
        const upgraded = a.mfa ? {} : ((await deps.auth.secondFactorEnrolled(a.userId, a.sessionId, 'passkey')) ?? {});
        res.status(201).json({ ...added, ...upgraded });
      },
    ),
  );

  router.get(
    '/',
    user,
    route(
      {
        doc: doc('List my passkeys', 'Name, created, last used, transports and whether it is synced (backed up).', {
          200: { description: 'The caller’s passkeys.', schema: z.object({ passkeys: z.array(passkeyView) }) },
        }),
      },
      async ({ res }) => {
        res.json({ passkeys: await deps.passkeys.list(requireAuth(res).userId) });
      },
    ),
  );

  router.patch(
    '/:id',
    user,
    route(
      { params: z.strictObject({ id: z.string().uuid() }), body: z.strictObject({ name }) },
      async ({ params, body, res }) => {
        res.json(await deps.passkeys.rename(requireAuth(res).userId, params.id, body.name));
      },
    ),
  );

  router.delete(
    '/:id',
    limit,
    user,
    route(
      {
        params: z.strictObject({ id: z.string().uuid() }),
        body: z.strictObject({ password }),
        doc: doc(
          'Remove a passkey',
          'Needs a 2FA session and the password again. The last second factor of a role that requires one cannot be removed (409 last-factor).',
          { 204: { description: 'Removed.' } },
        ),
      },
      async ({ params, body, res }) => {
        const a = requireAuth(res);
        await deps.passkeys.remove(a.userId, params.id, { sessionMfa: a.mfa, password: body.password });
        res.status(204).end();
      },
    ),
  );

  // --- sign-in

  router.post(
    '/authentication/options',
    limit,
    route(
      {
        body: z.strictObject({ mfaToken }),
        doc: doc(
          'Passkey as the second step: options',
          'After the password step: options for navigator.credentials.get() (startAuthentication) limited to this account’s passkeys.',
          { 200: { description: 'PublicKeyCredentialRequestOptionsJSON.', schema: options } },
        ),
      },
      async ({ body, res }) => {
        res.json(await deps.passkeys.secondFactorOptions(body.mfaToken));
      },
    ),
  );

  router.post(
    '/authentication/verify',
    limit,
    route(
      {
        body: z.strictObject({ mfaToken, credential: authenticationResponse }),
        doc: doc(
          'Passkey as the second step: verify',
          'Completes the sign-in like a TOTP code (same per-sign-in budget and account-wide cap) and answers the token pair of a 2FA session.',
          { 200: { description: 'Signed in.', schema: tokenPair } },
        ),
      },
      async ({ body, res }) => {
        res.json(await deps.passkeys.verifySecondFactor(body.mfaToken, body.credential));
      },
    ),
  );

  router.post(
    '/passwordless/options',
    // Not the auth tier: the request names nobody, so its bucket would be the client IP alone,
    // shared by an office behind one NAT. Issuing a challenge proves nothing and costs one
    // insert; the general tier (per IP) bounds it, and the verify step is on the auth tier.
    route(
      {
        doc: doc(
          'Passwordless sign-in: options',
          'Options without allowCredentials: the authenticator offers its discoverable passkeys. 403 when no role may sign in without a password.',
          { 200: { description: 'PublicKeyCredentialRequestOptionsJSON.', schema: options } },
        ),
      },
      async ({ res }) => {
        res.json(await deps.passkeys.passwordlessOptions());
      },
    ),
  );

  router.post(
    '/passwordless/verify',
    limit,
    route(
      {
        body: z.strictObject({ credential: authenticationResponse }),
        doc: doc(
          'Passwordless sign-in: verify',
          'For roles listed in PASSKEY_PASSWORDLESS_ROLES: the passkey alone signs in (a 2FA session); account locks and caps apply.',
          { 200: { description: 'Signed in.', schema: tokenPair } },
        ),
      },
      async ({ body, res }) => {
        res.json(await deps.passkeys.verifyPasswordless(body.credential));
      },
    ),
  );

  return router;
}
