import { randomUUID } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { PasskeyConfig } from '../../config';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type {
  PasskeyChallengeDoc,
  PasskeyChallengeModel,
  PasskeyCredentialDoc,
  PasskeyCredentialModel,
  PasskeyPurpose,
} from '../../models/passkey.model';
import type { UserDoc, UserModel } from '../../models/user.model';
import type { AlertRaiser } from '../alerts/alert-raiser';
import type { AuditTrail } from '../audit/audit-trail';
import type { AuthService, FactorOutcome, TokenPair } from '../auth/auth.service';
import type { EmailSender } from '../auth/senders';
import type { SingleUseClaims } from '../auth/single-use-claims';
import { passkeyRefused, refusalFromLibrary, type CeremonyStatus } from './passkey-errors';

/** ES256 (every platform authenticator) and RS256 (Windows Hello); nothing weaker. */
const SUPPORTED_ALGORITHMS = [-7, -257];
/** Enough for every device a person owns; a bound on what one account can store. */
export const MAX_PASSKEYS_PER_USER = 20;
/** WebAuthn's bound on a credential id (credentialIdLength), in bytes. */
const MAX_CREDENTIAL_ID_BYTES = 1023;

const tooManyPasskeys = (): AppError =>
  AppError.conflict(`An account can hold at most ${MAX_PASSKEYS_PER_USER} passkeys; remove one first.`);

export interface PasskeyServiceDeps {
  credentials: PasskeyCredentialModel;
  challenges: PasskeyChallengeModel;
  users: UserModel;
  claims: SingleUseClaims;
  audit: AuditTrail;
  email: EmailSender;
  /** Counter regressions (a cloned authenticator) are raised here. */
  alerts: AlertRaiser;
  logger: Logger;
  config: PasskeyConfig;
  /** Sign-in steps, guessing budgets and sessions stay in the AuthService. */
  auth: Pick<AuthService, 'pendingSignIn' | 'verifyPasskeySecondFactor' | 'signInWithPasskeyOnly' | 'reauthenticate'>;
  /** Whether the role must keep a second factor (AccessPolicy.requiresSecondFactor). */
  secondFactorRequired: (role: string) => Promise<boolean>;
  /** New backup codes for a user whose first factor this is (TwoFactorAuthService). */
  issueBackupCodes: (userId: string) => Promise<string[]>;
  now?: () => Date;
}

/** What the owner sees of a passkey (never the public key: it is of no use to them). */
export interface PasskeyView {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  transports: string[];
  backedUp: boolean;
  deviceType: string;
}

const view = (c: PasskeyCredentialDoc): PasskeyView => ({
  id: c._id,
  name: c.name,
  createdAt: c.createdAt,
  lastUsedAt: c.lastUsedAt,
  transports: c.transports,
  backedUp: c.backedUp,
  deviceType: c.deviceType,
});

/** What a ceremony's challenge must have been issued for. */
interface Expected {
  purpose: PasskeyPurpose;
  userId: string | null;
  attemptId: string | null;
  status: CeremonyStatus;
}

/**
 * Passkeys (WebAuthn, @simplewebauthn/server): registration, the second step of a sign-in,
 * passwordless sign-in for the roles config allows, and the owner's management of them.
 * Every ceremony's challenge is issued for one user and one attempt, expires after
 * PASSKEY_CHALLENGE_TTL_SECONDS and is spent by a SingleUseClaim (the first verification
 * wins). A refused ceremony writes no credential, counter or session.
 */
export class PasskeyService {
  private readonly now: () => Date;

  constructor(private readonly deps: PasskeyServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private assertAvailable(): void {
    if (this.deps.config.origins.length === 0)
      throw AppError.serviceUnavailable('Passkeys are not configured on this server (PASSKEY_ORIGINS).');
  }

  private async storeChallenge(challenge: string, expected: Omit<Expected, 'status'>): Promise<void> {
    await this.deps.challenges.create({
      _id: challenge,
      purpose: expected.purpose,
      userId: expected.userId,
      attemptId: expected.attemptId,
      expiresAt: new Date(this.now().getTime() + this.deps.config.challengeTtlSeconds * 1000),
    });
  }

  /**
   * The ceremony the response answers, read from the challenge the browser signed into
   * clientDataJSON: it must have been issued here for this purpose, user and attempt, be
   * unexpired and unspent. Writes nothing.
   */
  private async pendingChallenge(clientDataJSON: string, expected: Expected): Promise<PasskeyChallengeDoc> {
    const challenge = challengeOf(clientDataJSON, expected.status);
    const doc = await this.deps.challenges.findById(challenge).lean();
    const issuedForThis =
      doc !== null &&
      doc.purpose === expected.purpose &&
      doc.userId === expected.userId &&
      doc.attemptId === expected.attemptId;
    if (!issuedForThis) {
      if (await this.deps.claims.has(claimKey(challenge)))
        throw passkeyRefused('passkey-challenge-used', expected.status);
      throw passkeyRefused('passkey-challenge-unknown', expected.status);
    }
    if (doc.expiresAt.getTime() <= this.now().getTime())
      throw passkeyRefused('passkey-challenge-expired', expected.status);
    return doc;
  }

  /** Spends the challenge: exactly one of several concurrent verifications gets true. */
  private async spend(doc: PasskeyChallengeDoc): Promise<boolean> {
    if (!(await this.deps.claims.claim(claimKey(doc._id), doc.expiresAt))) return false;
    await this.deps.challenges.deleteOne({ _id: doc._id });
    return true;
  }

  // --- registration

  /**
   * Options for navigator.credentials.create(). The caller has re-authenticated (password)
   * and, when the user already has a second factor, holds a 2FA session (the route checks).
   */
  async registrationOptions(user: UserDoc, sessionId: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    this.assertAvailable();
    const existing = await this.deps.credentials.find({ userId: user._id }, { credentialId: 1, transports: 1 }).lean();
    if (existing.length >= MAX_PASSKEYS_PER_USER) throw tooManyPasskeys();
    const options = await generateRegistrationOptions({
      rpName: this.deps.config.rpName,
      rpID: this.deps.config.rpId,
      userName: user.email,
      userDisplayName: user.name,
      // The user handle: passwordless sign-in reads the account from it.
      userID: new Uint8Array(Buffer.from(user._id, 'utf8')),
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports })),
      authenticatorSelection: {
        // Discoverable where passwordless sign-in may need it; otherwise security keys with few slots keep them.
        residentKey: this.deps.config.passwordlessRoles.includes(user.role) ? 'required' : 'preferred',
        userVerification: 'required',
      },
      supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
      timeout: this.deps.config.challengeTtlSeconds * 1000,
    });
    await this.storeChallenge(options.challenge, { purpose: 'register', userId: user._id, attemptId: sessionId });
    return options;
  }

  /** Checks the authenticator's answer and stores the new passkey; backup codes when it is the first factor. */
  async verifyRegistration(
    userId: string,
    sessionId: string,
    response: RegistrationResponseJSON,
    name: string | undefined,
  ): Promise<{ passkey: PasskeyView; backupCodes: string[] | null }> {
    this.assertAvailable();
    const expected: Expected = { purpose: 'register', userId, attemptId: sessionId, status: 400 };
    const doc = await this.pendingChallenge(response.response.clientDataJSON, expected);
    let info;
    try {
      const verification = await verifyRegistrationResponse({
        response,
        expectedChallenge: doc._id,
        expectedOrigin: [...this.deps.config.origins],
        expectedRPID: this.deps.config.rpId,
        requireUserVerification: true,
        supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
      });
      if (!verification.verified) throw passkeyRefused('passkey-invalid', 400);
      info = verification.registrationInfo;
    } catch (err) {
      await this.refusedAudit('mfa.passkey.add', userId, err);
      throw refusalFromLibrary(err, 400);
    }
    const credentialId = info.credential.id;
    // What is stored is the id inside the authenticator data: it must be the one the body
    // names (the browser reports that one; sign-in looks the passkey up by it) and fit WebAuthn's bound.
    const idProblem =
      Buffer.from(credentialId, 'base64url').length > MAX_CREDENTIAL_ID_BYTES
        ? `The credential id is longer than the ${MAX_CREDENTIAL_ID_BYTES} bytes WebAuthn allows.`
        : credentialId !== response.id
          ? 'The credential id in the answer is not the one in its authenticator data.'
          : null;
    if (idProblem) {
      const refused = passkeyRefused('passkey-invalid', 400, idProblem);
      await this.refusedAudit('mfa.passkey.add', userId, refused);
      throw refused;
    }
    if (await this.deps.credentials.exists({ credentialId }))
      throw AppError.conflict('This passkey is already registered.', 'passkey-already-registered');
    // Again here: several option sets may have been issued while the account was below the limit.
    if ((await this.deps.credentials.countDocuments({ userId })) >= MAX_PASSKEYS_PER_USER) throw tooManyPasskeys();
    const user = await this.deps.users.findById(userId).lean();
    if (!user || user.status !== 'active') throw AppError.unauthorized('The session has ended.', 'invalid-token');
    if (!(await this.spend(doc))) throw passkeyRefused('passkey-challenge-used', 400);
    const created: PasskeyCredentialDoc = {
      _id: randomUUID(),
      userId,
      credentialId,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: (response.response.transports ?? []).filter((t) => typeof t === 'string').slice(0, 8),
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      name: name ?? defaultName(info.credentialDeviceType),
      createdAt: this.now(),
      lastUsedAt: null,
    };
    try {
      await this.deps.credentials.create(created);
    } catch (err) {
      if ((err as { code?: number }).code === 11000)
        throw AppError.conflict('This passkey is already registered.', 'passkey-already-registered');
      throw err;
    }
    await this.deps.users.updateOne(
      { _id: userId },
      { $addToSet: { 'mfa.methods': 'passkey' }, $set: { 'mfa.enrollmentRequired': false } },
    );
    await this.deps.audit.record({
      action: 'mfa.passkey.added',
      outcome: 'succeeded',
      actorId: userId,
      resource: 'passkey',
      resourceId: created._id,
      details: { backedUp: created.backedUp, deviceType: created.deviceType },
    });
    await this.notify(user.email, 'A passkey was added to your account', `A passkey named "${created.name}" was added`);
    const backupCodes = user.mfa.backupCodes.length ? null : await this.deps.issueBackupCodes(userId);
    return { passkey: view(created), backupCodes };
  }

  // --- the second step of a sign-in

  /** Options for navigator.credentials.get() after the password step, limited to this user's passkeys. */
  async secondFactorOptions(mfaToken: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    this.assertAvailable();
    const { user, loginId } = await this.deps.auth.pendingSignIn(mfaToken);
    const mine = await this.deps.credentials.find({ userId: user._id }, { credentialId: 1, transports: 1 }).lean();
    if (mine.length === 0) throw AppError.badRequest('No passkey is registered for this account.');
    const options = await generateAuthenticationOptions({
      rpID: this.deps.config.rpId,
      allowCredentials: mine.map((c) => ({ id: c.credentialId, transports: c.transports })),
      userVerification: 'required',
      timeout: this.deps.config.challengeTtlSeconds * 1000,
    });
    await this.storeChallenge(options.challenge, { purpose: 'second-factor', userId: user._id, attemptId: loginId });
    return options;
  }

  async verifySecondFactor(mfaToken: string, response: AuthenticationResponseJSON): Promise<TokenPair> {
    this.assertAvailable();
    const { loginId } = await this.deps.auth.pendingSignIn(mfaToken);
    return this.deps.auth.verifyPasskeySecondFactor(mfaToken, (user) =>
      this.checkAssertion(user, response, {
        purpose: 'second-factor',
        userId: user._id,
        attemptId: loginId,
        status: 401,
      }),
    );
  }

  // --- passwordless

  /** Options for a discoverable-credential sign-in: no user is named, the authenticator offers its passkeys. */
  async passwordlessOptions(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    this.assertAvailable();
    if (this.deps.config.passwordlessRoles.length === 0)
      throw passkeyRefused('passwordless-not-allowed', 403, 'Passwordless sign-in is not enabled on this server.');
    const options = await generateAuthenticationOptions({
      rpID: this.deps.config.rpId,
      userVerification: 'required',
      timeout: this.deps.config.challengeTtlSeconds * 1000,
    });
    await this.storeChallenge(options.challenge, { purpose: 'passwordless', userId: null, attemptId: null });
    return options;
  }

  async verifyPasswordless(response: AuthenticationResponseJSON): Promise<TokenPair> {
    this.assertAvailable();
    // Until the credential names its user there is no account to count against: these are refused outright.
    const doc = await this.pendingChallenge(response.response.clientDataJSON, {
      purpose: 'passwordless',
      userId: null,
      attemptId: null,
      status: 401,
    });
    const credential = await this.deps.credentials.findOne({ credentialId: response.id }).lean();
    if (!credential) throw passkeyRefused('passkey-unknown-credential', 401);
    const handle = response.response.userHandle;
    if (handle !== undefined && handle !== Buffer.from(credential.userId, 'utf8').toString('base64url'))
      throw passkeyRefused('passkey-unknown-credential', 401);
    const user = await this.deps.users.findById(credential.userId).lean();
    if (user && !this.deps.config.passwordlessRoles.includes(user.role)) {
      await this.deps.audit.record({
        action: 'auth.login',
        outcome: 'denied',
        actorId: user._id,
        details: { mfa: 'passkey', passwordless: true, reason: 'passwordless-not-allowed' },
      });
      throw passkeyRefused(
        'passwordless-not-allowed',
        403,
        'Your role signs in with a password first; use the passkey as the second step.',
      );
    }
    return this.deps.auth.signInWithPasskeyOnly(credential.userId, doc._id, (u) =>
      this.checkAssertion(u, response, { purpose: 'passwordless', userId: null, attemptId: null, status: 401 }),
    );
  }

  /**
   * Verifies one assertion for `user` (a FactorCheck: a refusal is returned, so the
   * AuthService counts it, not thrown). On success the challenge is spent and the
   * credential's counter and last use are stored; on any refusal nothing is written.
   */
  private async checkAssertion(
    user: UserDoc,
    response: AuthenticationResponseJSON,
    expected: Expected,
  ): Promise<FactorOutcome> {
    let doc: PasskeyChallengeDoc;
    try {
      doc = await this.pendingChallenge(response.response.clientDataJSON, expected);
    } catch (err) {
      if (err instanceof AppError) return { ok: false, refusal: err };
      throw err;
    }
    const credential = await this.deps.credentials.findOne({ credentialId: response.id }).lean();
    if (!credential || credential.userId !== user._id || !user.mfa.methods.includes('passkey'))
      return { ok: false, refusal: passkeyRefused('passkey-unknown-credential', expected.status) };
    let info;
    try {
      const verification = await verifyAuthenticationResponse({
        response,
        expectedChallenge: doc._id,
        expectedOrigin: [...this.deps.config.origins],
        expectedRPID: this.deps.config.rpId,
        // The library's own counter check runs before the signature check; ours runs after, so a
        // regression alert always means a valid signature: a cloned authenticator, not noise.
        credential: {
          id: credential.credentialId,
          publicKey: new Uint8Array(Buffer.from(credential.publicKey, 'base64url')),
          counter: 0,
          transports: credential.transports,
        },
        requireUserVerification: true,
      });
      if (!verification.verified) return { ok: false, refusal: passkeyRefused('passkey-invalid', expected.status) };
      info = verification.authenticationInfo;
    } catch (err) {
      return { ok: false, refusal: refusalFromLibrary(err, expected.status) };
    }
    const presented = info.newCounter;
    if ((presented > 0 || credential.counter > 0) && presented <= credential.counter) {
      // The same answer racing one that just won (and moved the counter) is a replay, not a clone.
      if (await this.deps.claims.has(claimKey(doc._id)))
        return { ok: false, refusal: passkeyRefused('passkey-challenge-used', expected.status) };
      await this.counterRegression(user, credential, presented);
      return { ok: false, refusal: passkeyRefused('passkey-counter-regression', expected.status) };
    }
    if (!(await this.spend(doc)))
      return { ok: false, refusal: passkeyRefused('passkey-challenge-used', expected.status) };
    // $max: two valid assertions racing past the check above must not store the older counter last.
    await this.deps.credentials.updateOne(
      { _id: credential._id },
      { $max: { counter: presented }, $set: { lastUsedAt: this.now(), backedUp: info.credentialBackedUp } },
    );
    return { ok: true };
  }

  /** A validly signed assertion whose counter did not move forward: two copies of one key exist. */
  private async counterRegression(user: UserDoc, credential: PasskeyCredentialDoc, presented: number): Promise<void> {
    const details = { passkeyId: credential._id, storedCounter: credential.counter, presentedCounter: presented };
    await this.deps.audit.record({
      action: 'mfa.passkey.counter-regression',
      outcome: 'denied',
      actorId: user._id,
      resource: 'passkey',
      resourceId: credential._id,
      details,
    });
    await this.deps.alerts
      .raise({
        source: 'security',
        kind: 'auth.passkey-counter-regression',
        subject: credential._id,
        severity: 'error',
        title: 'A passkey signature counter went backwards',
        message: `Passkey ${credential._id} of user ${user._id} signed with counter ${presented}, not above the stored ${credential.counter}: the authenticator may have been cloned. The sign-in was refused.`,
        details: { userId: user._id, ...details },
      })
      .catch((err: unknown) =>
        this.deps.logger.error({ err: { message: (err as Error).message } }, 'passkey counter alert not raised'),
      );
  }

  // --- management by the owner

  async list(userId: string): Promise<PasskeyView[]> {
    const mine = await this.deps.credentials.find({ userId }).sort({ createdAt: 1 }).lean();
    return mine.map(view);
  }

  async rename(userId: string, id: string, name: string): Promise<PasskeyView> {
    const updated = await this.deps.credentials
      .findOneAndUpdate({ _id: id, userId }, { $set: { name } }, { returnDocument: 'after' })
      .lean();
    if (!updated) throw AppError.notFound('No such passkey.');
    await this.deps.audit.record({
      action: 'mfa.passkey.renamed',
      outcome: 'succeeded',
      actorId: userId,
      resource: 'passkey',
      resourceId: id,
    });
    return view(updated);
  }

  /**
   * Removes a passkey: a 2FA session and the password again (a stolen access token alone
   * must not strip a factor). The last factor of a role that must keep one stays.
   */
  async remove(userId: string, id: string, auth: { sessionMfa: boolean; password: string }): Promise<void> {
    if (!auth.sessionMfa)
      throw new AppError({
        code: 'second-factor-session-required',
        status: 403,
        title: 'Second Factor Required',
        detail: 'Sign in with your second factor to remove a passkey.',
      });
    const user = await this.deps.auth.reauthenticate(userId, auth.password, 'mfa.passkey.remove');
    const target = await this.deps.credentials.findOne({ _id: id, userId }).lean();
    if (!target) throw AppError.notFound('No such passkey.');
    const otherFactors = user.mfa.methods.filter((m) => m !== 'passkey');
    const mandatory = await this.deps.secondFactorRequired(user.role);
    const lastFactor = (): AppError =>
      AppError.conflict(
        `This is your last second factor and the ${user.role} role must keep one: add another factor first.`,
        'last-factor',
      );
    if (mandatory && otherFactors.length === 0 && (await this.deps.credentials.countDocuments({ userId })) <= 1)
      throw lastFactor();
    const removed = await this.deps.credentials.findOneAndDelete({ _id: id, userId }).lean();
    if (!removed) throw AppError.notFound('No such passkey.');
    const remaining = await this.deps.credentials.countDocuments({ userId });
    if (remaining === 0) {
      const fresh = await this.deps.users.findById(userId, { 'mfa.methods': 1 }).lean();
      const others = (fresh?.mfa.methods ?? []).filter((m) => m !== 'passkey');
      if (mandatory && others.length === 0) {
        // Two removals raced past the check above: put this one back rather than leave no factor.
        await this.deps.credentials.create(removed);
        throw lastFactor();
      }
      await this.deps.users.updateOne({ _id: userId }, { $pull: { 'mfa.methods': 'passkey' } });
      // A registration may have landed since the count, its $addToSet before this $pull: give
      // the method back rather than leave a stored passkey that sign-in would not offer.
      if ((await this.deps.credentials.countDocuments({ userId })) > 0)
        await this.deps.users.updateOne({ _id: userId }, { $addToSet: { 'mfa.methods': 'passkey' } });
      else if (others.length === 0)
        // No factor left: the backup codes would be a way in with nothing to back up (only
        // while that still holds: a factor enrolled meanwhile keeps them).
        await this.deps.users.updateOne(
          { _id: userId, 'mfa.methods': { $size: 0 } },
          { $set: { 'mfa.backupCodes': [] } },
        );
    }
    await this.deps.audit.record({
      action: 'mfa.passkey.removed',
      outcome: 'succeeded',
      actorId: userId,
      resource: 'passkey',
      resourceId: id,
      details: { remaining },
    });
    await this.notify(
      user.email,
      'A passkey was removed from your account',
      `The passkey "${removed.name}" was removed`,
    );
  }

  /** Retention (no TTL index on FerretDB): ceremonies past their expiry can never be answered. */
  async purgeExpiredChallenges(): Promise<number> {
    return (await this.deps.challenges.deleteMany({ expiresAt: { $lte: this.now() } })).deletedCount;
  }

  private async refusedAudit(action: string, userId: string, err: unknown): Promise<void> {
    await this.deps.audit.record({
      action,
      outcome: 'failed',
      actorId: userId,
      details: { reason: err instanceof AppError ? err.code : refusalFromLibrary(err, 400).code },
    });
  }

  /** Security notice; a mail problem must not undo a change the user already made. */
  private async notify(to: string, subject: string, what: string): Promise<void> {
    await this.deps.email
      .send({
        to,
        subject,
        text: `${what} at ${this.now().toISOString()}. If this was not you, sign in, remove unknown passkeys and contact your administrator now.`,
      })
      .catch((err: unknown) =>
        this.deps.logger.warn({ err: { message: (err as Error).message } }, 'passkey notice not delivered'),
      );
  }
}

const claimKey = (challenge: string): string => `passkey-challenge:${challenge}`;

function defaultName(deviceType: string): string {
  return deviceType === 'multiDevice' ? 'Synced passkey' : 'Security key';
}

/** The challenge inside clientDataJSON (base64url JSON); malformed input is a refusal, not a 500. */
function challengeOf(clientDataJSON: string, status: CeremonyStatus): string {
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    if (typeof parsed.challenge === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(parsed.challenge))
      return parsed.challenge;
  } catch {
    // fall through
  }
  throw passkeyRefused('passkey-invalid', status, 'clientDataJSON is not valid base64url JSON with a challenge.');
}
