import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { MAX_PASSKEYS_PER_USER } from '../../src/services/passkeys/passkey.service';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { passwordStep } from '../support/two-factor';
import { bearer, createUser, login, PASSWORD } from '../support/users';
import { expectProblem } from '../support/problems';
import { SoftAuthenticator, type Tamper } from '../support/soft-authenticator';
import {
  PASSKEY_ENV,
  PASSKEY_ORIGIN,
  PASSKEY_RP_ID,
  passkeyApi,
  registerPasskey,
  registrationOptions,
  secondStepOptions,
  userWithPasskey,
} from '../support/passkeys';

const TWILIO_SID = 'AC' + '7'.repeat(32);
const CHALLENGE_TTL_SECONDS = 60;

/**
 * Every ceremony the server must refuse, each with its own problem type, and with nothing
 * stored: no credential, no counter or last-use change, no session.
 */
describe('passkey ceremonies that must be refused', () => {
  let s: SenderTestApp;
  const authenticator = new SoftAuthenticator(PASSKEY_ORIGIN, PASSKEY_RP_ID);

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, TWILIO_SID, {
      ...PASSKEY_ENV,
      PASSKEY_CHALLENGE_TTL_SECONDS: String(CHALLENGE_TTL_SECONDS),
      PASSKEY_PASSWORDLESS_ROLES: 'user',
    });
  });
  afterAll(() => s.close());

  const models = () => s.t.container.models;
  const storedPasskeys = (userId: string) => models().PasskeyCredential.find({ userId }).lean();
  const sessionCount = (userId: string) => models().Session.countDocuments({ userId });
  const verifySecondStep = (mfaToken: string, credential: unknown) =>
    request(s.t.app).post(`${passkeyApi}/authentication/verify`).send({ mfaToken, credential });
  const verifyRegistration = (accessToken: string, credential: unknown) =>
    request(s.t.app)
      .post(`${passkeyApi}/registration/verify`)
      .set(...bearer(accessToken))
      .send({ credential });

  /** A signed-in user without any factor, ready to register. */
  async function freshUser(email: string): Promise<{ userId: string; accessToken: string }> {
    const userId = await createUser(s.t, email);
    const res = await login(s.t, email);
    return { userId, accessToken: res.body.accessToken as string };
  }

  describe('registration', () => {
    async function refusedRegistration(label: string, tamper: Tamper, type: RegExp): Promise<void> {
      const { userId, accessToken } = await freshUser(`reg.${label}@refusals.example`);
      const { res } = await registerPasskey(s.t, authenticator, accessToken, { tamper });
      expectProblem(res, 400, type);
      expect(await storedPasskeys(userId)).toEqual([]);
      const user = await models().User.findById(userId).lean();
      expect(user?.mfa.methods).toEqual([]);
      expect(user?.mfa.backupCodes).toEqual([]);
    }

    it('when the registration ran on another origin, then 400 passkey-origin-mismatch and no passkey is stored', () =>
      refusedRegistration('origin', { origin: 'https://erp.passkeys.test.evil.example' }, /passkey-origin-mismatch$/));

    it('when the authenticator registered for another RP id, then 400 passkey-rp-id-mismatch and no passkey is stored', () =>
      refusedRegistration('rpid', { rpId: 'evil.example' }, /passkey-rp-id-mismatch$/));

    it('when the authenticator did not verify the user, then 400 passkey-user-verification-missing and no passkey is stored', () =>
      refusedRegistration('uv', { noUserVerification: true }, /passkey-user-verification-missing$/));

    it('when a registration answer is sent a second time, then the replay is refused as a used challenge and nothing is added', async () => {
      const { userId, accessToken } = await freshUser('reg.replay@refusals.example');
      const options = await request(s.t.app)
        .post(`${passkeyApi}/registration/options`)
        .set('Authorization', `Bearer ${accessToken}`)
        .send({ password: 'tangerine-harbour-73-quietly' });
      const { response } = authenticator.create(options.body);
      const first = await request(s.t.app)
        .post(`${passkeyApi}/registration/verify`)
        .set('Authorization', `Bearer ${accessToken}`)
        .send({ credential: response });
      expect(first.status).toBe(201);
      const again = await request(s.t.app)
        .post(`${passkeyApi}/registration/verify`)
        .set('Authorization', `Bearer ${first.body.accessToken as string}`)
        .send({ credential: response });
      expectProblem(again, 400, /passkey-challenge-used$/);
      expect(await storedPasskeys(userId)).toHaveLength(1);
    });

    it('when the authenticator data carries a credential id longer than the 1023 bytes WebAuthn allows, then 400 passkey-invalid and no passkey is stored', async () => {
      const { userId, accessToken } = await freshUser('reg.long-id@refusals.example');
      const options = await registrationOptions(s.t, accessToken);
      const { response } = authenticator.create(options, { credentialIdBytes: 1024 });
      // The body's id is bounded by validation, but what is stored is the id inside the
      // authenticator data: a client can pair a short id with a long one there.
      const shortId = randomBytes(32).toString('base64url');
      const res = await verifyRegistration(accessToken, { ...response, id: shortId, rawId: shortId });
      expectProblem(res, 400, /passkey-invalid$/);
      expect(await storedPasskeys(userId)).toEqual([]);
      expect((await models().User.findById(userId).lean())?.mfa.methods).toEqual([]);
    });

    it('when two registrations were started one below the passkey limit, then the second to finish is refused like new options (409) and the account keeps the limit', async () => {
      const { userId, accessToken } = await userWithPasskey(s.t, authenticator, 'reg.limit@refusals.example');
      // Up to one below the limit (stored directly: registering them one by one adds nothing here).
      await models().PasskeyCredential.insertMany(
        Array.from({ length: MAX_PASSKEYS_PER_USER - 2 }, (_, i) => ({
          _id: randomUUID(),
          userId,
          credentialId: randomBytes(32).toString('base64url'),
          publicKey: randomBytes(77).toString('base64url'),
          counter: 0,
          transports: ['usb'],
          deviceType: 'singleDevice',
          backedUp: false,
          name: `Key ${i}`,
          createdAt: new Date(),
          lastUsedAt: null,
        })),
      );
      const first = await registrationOptions(s.t, accessToken);
      const second = await registrationOptions(s.t, accessToken);
      expect((await verifyRegistration(accessToken, authenticator.create(first).response)).status).toBe(201);
      const stored = await storedPasskeys(userId);
      expect(stored).toHaveLength(MAX_PASSKEYS_PER_USER);

      const refused = await verifyRegistration(accessToken, authenticator.create(second).response);
      expectProblem(refused, 409);
      expect(await storedPasskeys(userId)).toEqual(stored);
      const optionsNow = await request(s.t.app)
        .post(`${passkeyApi}/registration/options`)
        .set(...bearer(accessToken))
        .send({ password: PASSWORD });
      expectProblem(optionsNow, 409);
      expect(refused.body.type).toBe(optionsNow.body.type);
    });
  });

  describe('the second step of a sign-in', () => {
    async function refusedSecondStep(label: string, tamper: Tamper, type: RegExp): Promise<void> {
      const email = `auth.${label}@refusals.example`;
      const { userId, credential } = await userWithPasskey(s.t, authenticator, email);
      const before = await storedPasskeys(userId);
      const sessions = await sessionCount(userId);
      const mfaToken = await passwordStep(s.t, email);
      const options = await secondStepOptions(s.t, mfaToken);
      const res = await verifySecondStep(
        mfaToken,
        authenticator.get(options, credential, { ...tamper, counter: credential.counter + 1 }),
      );
      expectProblem(res, 401, type);
      expect(res.body.accessToken).toBeUndefined();
      expect(await storedPasskeys(userId)).toEqual(before);
      expect(await sessionCount(userId)).toBe(sessions);
    }

    it('when the assertion was made on a phishing origin, then 401 passkey-origin-mismatch and no counter, last use or session is stored', () =>
      refusedSecondStep('origin', { origin: 'https://phish.example' }, /passkey-origin-mismatch$/));

    it('when the assertion was signed for another RP id, then 401 passkey-rp-id-mismatch and no counter, last use or session is stored', () =>
      refusedSecondStep('rpid', { rpId: 'phish.example' }, /passkey-rp-id-mismatch$/));

    it('when the assertion lacks the user-verified flag, then 401 passkey-user-verification-missing and no counter, last use or session is stored', () =>
      refusedSecondStep('uv', { noUserVerification: true }, /passkey-user-verification-missing$/));

    it('when an assertion that signed in is replayed in a new sign-in, then its challenge is refused as used and no second session opens', async () => {
      const email = 'auth.replay@refusals.example';
      const { userId, credential } = await userWithPasskey(s.t, authenticator, email);
      const firstToken = await passwordStep(s.t, email);
      const answer = authenticator.get(await secondStepOptions(s.t, firstToken), credential);
      expect((await verifySecondStep(firstToken, answer)).status).toBe(200);
      const after = await storedPasskeys(userId);
      const sessions = await sessionCount(userId);

      const secondToken = await passwordStep(s.t, email);
      await secondStepOptions(s.t, secondToken);
      const replay = await verifySecondStep(secondToken, answer);
      expectProblem(replay, 401, /passkey-challenge-used$/);
      expect(await storedPasskeys(userId)).toEqual(after);
      expect(await sessionCount(userId)).toBe(sessions);
    });

    it('when the challenge has expired (clock moved past its lifetime), then 401 passkey-challenge-expired and nothing is stored', async () => {
      const email = 'auth.expired@refusals.example';
      const { userId, credential } = await userWithPasskey(s.t, authenticator, email);
      const before = await storedPasskeys(userId);
      const sessions = await sessionCount(userId);
      const mfaToken = await passwordStep(s.t, email);
      const options = await secondStepOptions(s.t, mfaToken);
      s.clock.advance((CHALLENGE_TTL_SECONDS + 1) * 1000);
      const res = await verifySecondStep(
        mfaToken,
        authenticator.get(options, credential, { counter: credential.counter + 1 }),
      );
      expectProblem(res, 401, /passkey-challenge-expired$/);
      expect(await storedPasskeys(userId)).toEqual(before);
      expect(await sessionCount(userId)).toBe(sessions);
    });

    it('when a validly signed assertion does not advance the signature counter, then it is refused, nothing is stored and a security alert is raised', async () => {
      const email = 'auth.counter@refusals.example';
      const { userId, credential } = await userWithPasskey(s.t, authenticator, email);
      const first = await passwordStep(s.t, email);
      expect(
        (await verifySecondStep(first, authenticator.get(await secondStepOptions(s.t, first), credential))).status,
      ).toBe(200);
      const before = await storedPasskeys(userId);
      expect(before[0].counter).toBe(credential.counter);
      const sessions = await sessionCount(userId);

      // A clone of the key that signs with the counter it had when it was copied.
      const mfaToken = await passwordStep(s.t, email);
      const cloned = authenticator.get(await secondStepOptions(s.t, mfaToken), credential, {
        counter: credential.counter,
      });
      const res = await verifySecondStep(mfaToken, cloned);
      expectProblem(res, 401, /passkey-counter-regression$/);
      expect(await storedPasskeys(userId)).toEqual(before);
      expect(await sessionCount(userId)).toBe(sessions);
      const alert = await models()
        .Alert.findOne({ kind: 'auth.passkey-counter-regression', subject: before[0]._id })
        .lean();
      expect(alert).toMatchObject({ source: 'security', severity: 'error' });
      expect(alert?.details).toMatchObject({
        userId,
        storedCounter: credential.counter,
        presentedCounter: credential.counter,
      });
    });

    it('when the assertion is made with a passkey of another user, then 401 passkey-unknown-credential and neither account changes', async () => {
      const owner = await userWithPasskey(s.t, authenticator, 'auth.owner@refusals.example');
      const victimEmail = 'auth.victim@refusals.example';
      const victim = await userWithPasskey(s.t, authenticator, victimEmail);
      const ownerBefore = await storedPasskeys(owner.userId);
      const victimBefore = await storedPasskeys(victim.userId);
      const sessions = await sessionCount(victim.userId);

      const mfaToken = await passwordStep(s.t, victimEmail);
      const res = await verifySecondStep(
        mfaToken,
        authenticator.get(await secondStepOptions(s.t, mfaToken), owner.credential, {
          counter: owner.credential.counter + 1,
        }),
      );
      expectProblem(res, 401, /passkey-unknown-credential$/);
      expect(await storedPasskeys(owner.userId)).toEqual(ownerBefore);
      expect(await storedPasskeys(victim.userId)).toEqual(victimBefore);
      expect(await sessionCount(victim.userId)).toBe(sessions);
    });

    it('when wrong assertions are sent, then they count toward the same 5-try budget of the sign-in as wrong codes', async () => {
      const email = 'auth.budget@refusals.example';
      const { credential } = await userWithPasskey(s.t, authenticator, email);
      const mfaToken = await passwordStep(s.t, email);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const options = await secondStepOptions(s.t, mfaToken);
        statuses.push(
          (
            await verifySecondStep(
              mfaToken,
              authenticator.get(options, credential, {
                origin: 'https://phish.example',
                counter: credential.counter + 1,
              }),
            )
          ).status,
        );
      }
      const locked = await request(s.t.app).post(`${passkeyApi}/authentication/options`).send({ mfaToken });
      expect(statuses).toEqual([401, 401, 401, 401, 401]);
      expectProblem(locked, 403, /factor-locked$/);
    });
  });

  describe('passwordless', () => {
    it('when a passwordless answer is replayed, then the challenge is refused as used and no second session opens', async () => {
      const { userId, credential } = await userWithPasskey(s.t, authenticator, 'pwless.replay@refusals.example');
      const options = await request(s.t.app).post(`${passkeyApi}/passwordless/options`);
      expect(options.status).toBe(200);
      const answer = authenticator.get(options.body, credential);
      const first = await request(s.t.app).post(`${passkeyApi}/passwordless/verify`).send({ credential: answer });
      expect(first.status).toBe(200);
      const sessions = await sessionCount(userId);
      const again = await request(s.t.app).post(`${passkeyApi}/passwordless/verify`).send({ credential: answer });
      expectProblem(again, 401, /passkey-challenge-used$/);
      expect(await sessionCount(userId)).toBe(sessions);
    });

    it('when the credential is unknown, then 401 passkey-unknown-credential', async () => {
      const options = await request(s.t.app).post(`${passkeyApi}/passwordless/options`);
      const stranger = new SoftAuthenticator(PASSKEY_ORIGIN, PASSKEY_RP_ID);
      const { credential } = stranger.create({
        challenge: 'AAAAAAAAAAAAAAAAAAAAAA',
        rp: { id: PASSKEY_RP_ID, name: 'x' },
        user: { id: 'dW5rbm93bg', name: 'x', displayName: 'x' },
      });
      const res = await request(s.t.app)
        .post(`${passkeyApi}/passwordless/verify`)
        .send({ credential: stranger.get(options.body, credential) });
      expectProblem(res, 401, /passkey-unknown-credential$/);
    });
  });
});
