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
  /** The newest refused second step of this user in the audit trail. */
  const refusedStepAudit = (userId: string) =>
    models().AuditEvent.findOne({ action: 'auth.mfa', outcome: 'failed', actorId: userId }).sort({ seq: -1 }).lean();

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

    it('when a passkey already registered is registered again, by its owner or by another user, then 409 passkey-already-registered and nothing is added', async () => {
      const owner = await userWithPasskey(s.t, authenticator, 'reg.twice@refusals.example');
      const before = await storedPasskeys(owner.userId);
      const again = await registerPasskey(s.t, authenticator, owner.accessToken, {
        tamper: { reuse: owner.credential },
      });
      expectProblem(again.res, 409, /passkey-already-registered$/);
      expect(await storedPasskeys(owner.userId)).toEqual(before);

      const other = await freshUser('reg.twice.other@refusals.example');
      const taken = await registerPasskey(s.t, authenticator, other.accessToken, {
        tamper: { reuse: owner.credential },
      });
      expectProblem(taken.res, 409, /passkey-already-registered$/);
      expect(await storedPasskeys(other.userId)).toEqual([]);
      expect((await models().User.findById(other.userId).lean())?.mfa.methods).toEqual([]);
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

    it('when the body names another credential id than its authenticator data, then 400 passkey-invalid and no passkey is stored', async () => {
      const { userId, accessToken } = await freshUser('reg.other-id@refusals.example');
      const options = await registrationOptions(s.t, accessToken);
      const { response } = authenticator.create(options);
      const otherId = randomBytes(32).toString('base64url');
      const res = await verifyRegistration(accessToken, { ...response, id: otherId, rawId: otherId });
      expectProblem(res, 400, /passkey-invalid$/);
      expect(await storedPasskeys(userId)).toEqual([]);
    });

    it('when an authenticator makes a credential id of exactly 1023 bytes, then it registers (the longest WebAuthn allows)', async () => {
      const { userId, accessToken } = await freshUser('reg.longest-id@refusals.example');
      const options = await registrationOptions(s.t, accessToken);
      const { response } = authenticator.create(options, { credentialIdBytes: 1023 });
      const res = await verifyRegistration(accessToken, response);
      expect(res.status).toBe(201);
      const [stored] = await storedPasskeys(userId);
      expect(Buffer.from(stored.credentialId, 'base64url')).toHaveLength(1023);
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
      // Each refused try is audited with its reason, as a wrong code is.
      expect((await refusedStepAudit(userId))?.details).toMatchObject({
        method: 'passkey',
        reason: expect.stringMatching(type),
      });
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

    it('when an assertion answers the challenge issued to another sign-in of the same user, then 401 passkey-challenge-unknown, nothing is stored and that sign-in can still use it', async () => {
      const email = 'auth.other-attempt@refusals.example';
      const { userId, credential } = await userWithPasskey(s.t, authenticator, email);
      const before = await storedPasskeys(userId);
      const sessions = await sessionCount(userId);
      const firstToken = await passwordStep(s.t, email);
      const answer = authenticator.get(await secondStepOptions(s.t, firstToken), credential);
      const secondToken = await passwordStep(s.t, email);
      await secondStepOptions(s.t, secondToken);

      const res = await verifySecondStep(secondToken, answer);
      expectProblem(res, 401, /passkey-challenge-unknown$/);
      expect(res.body.accessToken).toBeUndefined();
      expect(await storedPasskeys(userId)).toEqual(before);
      expect(await sessionCount(userId)).toBe(sessions);
      // Not spent by the refusal: the sign-in it was issued to still completes with it.
      expect((await verifySecondStep(firstToken, answer)).status).toBe(200);
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

    it('when a validly signed assertion does not advance the signature counter, then it is refused, nothing is stored, a security alert is raised and both are audited', async () => {
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
      const regression = await models()
        .AuditEvent.findOne({ action: 'mfa.passkey.counter-regression', actorId: userId })
        .lean();
      expect(regression).toMatchObject({ outcome: 'denied', resource: 'passkey', resourceId: before[0]._id });
      expect(regression?.details).toMatchObject({
        storedCounter: credential.counter,
        presentedCounter: credential.counter,
      });
      expect((await refusedStepAudit(userId))?.details).toMatchObject({
        method: 'passkey',
        reason: 'passkey-counter-regression',
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

  describe('malformed ceremony bodies', () => {
    const b64u = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
    type Body = Record<string, unknown>;
    /** Spoils a valid body; `challenge` is the one its ceremony was issued. */
    type Mutation = (body: Body, challenge: string) => unknown;
    type Case = [label: string, mutate: Mutation, status?: number];
    /** `body` with `path` (dot-separated) set to `value`, or removed when `value` is undefined. */
    const set =
      (path: string, value: unknown): Mutation =>
      (body) => {
        const copy = structuredClone(body);
        const keys = path.split('.');
        let at = copy;
        for (const k of keys.slice(0, -1)) at = at[k] as Body;
        if (value === undefined) delete at[keys[keys.length - 1]];
        else at[keys[keys.length - 1]] = value;
        return copy;
      };
    /** A body sent as this raw text (not JSON, or too big to read). */
    const raw =
      (text: string): Mutation =>
      () =>
        text;

    /** Malformed in every way any ceremony answer can be. */
    const common: Case[] = [
      ['clientDataJSON not base64url', set('credential.response.clientDataJSON', 'not+base64/url==')],
      ['clientDataJSON not JSON', set('credential.response.clientDataJSON', b64u('not json {'))],
      ['clientDataJSON JSON null', set('credential.response.clientDataJSON', b64u('null'))],
      ['clientDataJSON with a numeric challenge', set('credential.response.clientDataJSON', b64u('{"challenge":42}'))],
      [
        'clientDataJSON with the right challenge but no type or origin',
        (body, challenge) => set('credential.response.clientDataJSON', b64u(JSON.stringify({ challenge })))(body, ''),
      ],
      ['clientDataJSON oversized', set('credential.response.clientDataJSON', 'A'.repeat(20_000))],
      ['clientDataJSON a number', set('credential.response.clientDataJSON', 12345)],
      ['id a number', set('credential.id', 42)],
      ['id empty', set('credential.id', '')],
      ['id oversized', set('credential.id', 'A'.repeat(5_000))],
      ['type not public-key', set('credential.type', 'private-key')],
      ['response missing', set('credential.response', undefined)],
      ['response a string', set('credential.response', 'x')],
      ['clientExtensionResults not an object', set('credential.clientExtensionResults', 'x')],
      ['credential missing', set('credential', undefined)],
      ['credential an array', set('credential', [])],
      ['an unknown field', set('extra', true)],
      ['not JSON', raw('{"credential":'), 400],
      ['over the body limit', raw(JSON.stringify({ credential: 'A'.repeat(200_000) })), 413],
    ];
    /** Malformed in the ways only an assertion (a sign-in) can be. */
    const assertion: Case[] = [
      ['authenticatorData truncated', set('credential.response.authenticatorData', b64u('short'))],
      ['authenticatorData missing', set('credential.response.authenticatorData', undefined)],
      ['signature not DER', set('credential.response.signature', b64u('not a signature'))],
      ['signature missing', set('credential.response.signature', undefined)],
      ['userHandle oversized', set('credential.response.userHandle', 'A'.repeat(2_000))],
      ['userHandle a number', set('credential.response.userHandle', 7)],
    ];

    /**
     * Sends each case against a fresh pending ceremony (so each gets as far into verification
     * as it can) and answers the cases not refused with a problem+json of an allowed status.
     */
    async function misanswered(
      cases: Case[],
      ceremony: () => Promise<{ body: Body; challenge: string }>,
      path: string,
      allowed: number[],
      token?: string,
    ): Promise<Array<{ label: string; status: number; type: unknown }>> {
      const wrong: Array<{ label: string; status: number; type: unknown }> = [];
      for (const [label, mutate, status] of cases) {
        const { body, challenge } = await ceremony();
        const spoiled = mutate(body, challenge);
        const req = request(s.t.app).post(`${passkeyApi}${path}`).set('Content-Type', 'application/json');
        if (token) req.set(...bearer(token));
        const res = await req.send(typeof spoiled === 'string' ? spoiled : JSON.stringify(spoiled));
        const problem = /^application\/problem\+json/.test(String(res.headers['content-type']));
        if (!problem || !(status ? [status] : allowed).includes(res.status))
          wrong.push({ label, status: res.status, type: (res.body as { type?: unknown }).type });
      }
      return wrong;
    }

    it('when a registration answer is malformed, then each is refused with a 400 problem+json (413 over the body limit) and no passkey is stored', async () => {
      const { userId, accessToken } = await freshUser('malformed.reg@refusals.example');
      const registration: Case[] = [
        ['attestationObject not CBOR', set('credential.response.attestationObject', b64u('garbage'))],
        ['attestationObject a CBOR number', set('credential.response.attestationObject', 'GCo')],
        ['attestationObject missing', set('credential.response.attestationObject', undefined)],
        ['transports not an array', set('credential.response.transports', 'internal')],
        [
          'too many transports',
          set(
            'credential.response.transports',
            Array.from({ length: 9 }, () => 'usb'),
          ),
        ],
        ['name oversized', set('name', 'x'.repeat(65))],
        ['name a number', set('name', 7)],
      ];
      const ceremony = async () => {
        const options = await registrationOptions(s.t, accessToken);
        return {
          body: { credential: authenticator.create(options).response, name: 'Mine' },
          challenge: options.challenge,
        };
      };
      expect(
        await misanswered([...common, ...registration], ceremony, '/registration/verify', [400], accessToken),
      ).toEqual([]);
      expect(await storedPasskeys(userId)).toEqual([]);
      expect((await models().User.findById(userId).lean())?.mfa.methods).toEqual([]);
    });

    it('when a second-step assertion is malformed, then each is refused with a 400 or 401 problem+json and no counter, last use or session is stored', async () => {
      const email = 'malformed.step@refusals.example';
      const { userId, credential } = await userWithPasskey(s.t, authenticator, email);
      const before = await storedPasskeys(userId);
      const sessions = await sessionCount(userId);
      const ceremony = async () => {
        const mfaToken = await passwordStep(s.t, email);
        const options = await secondStepOptions(s.t, mfaToken);
        const answer = authenticator.get(options, credential, { counter: credential.counter + 1 });
        return { body: { mfaToken, credential: answer }, challenge: options.challenge };
      };
      const step: Case[] = [
        ['mfaToken a number', set('mfaToken', 42)],
        ['mfaToken missing', set('mfaToken', undefined)],
        ['mfaToken oversized', set('mfaToken', 'A'.repeat(5_000))],
      ];
      expect(
        await misanswered([...common, ...assertion, ...step], ceremony, '/authentication/verify', [400, 401]),
      ).toEqual([]);
      expect(await storedPasskeys(userId)).toEqual(before);
      expect(await sessionCount(userId)).toBe(sessions);
    });

    it('when a passwordless assertion is malformed, then each is refused with a 400 or 401 problem+json and no counter, last use or session is stored', async () => {
      const { userId, credential } = await userWithPasskey(s.t, authenticator, 'malformed.pwless@refusals.example');
      const before = await storedPasskeys(userId);
      const sessions = await sessionCount(userId);
      const ceremony = async () => {
        const options = await request(s.t.app).post(`${passkeyApi}/passwordless/options`);
        expect(options.status).toBe(200);
        const answer = authenticator.get(options.body, credential, { counter: credential.counter + 1 });
        return { body: { credential: answer }, challenge: options.body.challenge as string };
      };
      expect(await misanswered([...common, ...assertion], ceremony, '/passwordless/verify', [400, 401])).toEqual([]);
      expect(await storedPasskeys(userId)).toEqual(before);
      expect(await sessionCount(userId)).toBe(sessions);
    });
  });
});
