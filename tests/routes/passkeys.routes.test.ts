import request from 'supertest';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { passwordStep } from '../support/two-factor';
import { bearer, createUser, login, mfaSession, PASSWORD } from '../support/users';
import { expectProblem } from '../support/problems';
import { SoftAuthenticator } from '../support/soft-authenticator';
import {
  PASSKEY_ENV,
  PASSKEY_ORIGIN,
  PASSKEY_RP_ID,
  passkeyApi,
  registerPasskey,
  secondStepOptions,
  userWithPasskey,
} from '../support/passkeys';

const TWILIO_SID = 'AC' + '8'.repeat(32);

describe('passkeys: registration, sign-in and management', () => {
  let s: SenderTestApp;
  const authenticator = new SoftAuthenticator(PASSKEY_ORIGIN, PASSKEY_RP_ID);

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, TWILIO_SID, {
      ...PASSKEY_ENV,
      PASSKEY_PASSWORDLESS_ROLES: 'manager',
      MFA_REQUIRED_ROLES: 'admin',
    });
  });
  afterAll(() => s.close());

  const models = () => s.t.container.models;
  const mailsTo = (email: string, subject: RegExp) =>
    s.smtp.messages.filter((m) => m.to.includes(email) && subject.test(m.raw));
  const session = (token: string) =>
    request(s.t.app)
      .get('/api/v1/auth/session')
      .set(...bearer(token));

  it('when a user registers a passkey, then options ask for user verification and no attestation, the passkey is stored without secrets, backup codes come with it and the user is e-mailed', async () => {
    const email = 'register@passkeys.example';
    const userId = await createUser(s.t, email);
    const signedIn = await login(s.t, email);
    const options = await request(s.t.app)
      .post(`${passkeyApi}/registration/options`)
      .set(...bearer(signedIn.body.accessToken as string))
      .send({ password: PASSWORD });
    expect(options.status).toBe(200);
    expect(options.body).toMatchObject({
      rp: { id: PASSKEY_RP_ID, name: 'ERP' },
      attestation: 'none',
      authenticatorSelection: { userVerification: 'required' },
      user: { id: Buffer.from(userId).toString('base64url'), name: email },
    });
    const { response } = authenticator.create(options.body);
    const res = await request(s.t.app)
      .post(`${passkeyApi}/registration/verify`)
      .set(...bearer(signedIn.body.accessToken as string))
      .send({ credential: response, name: 'Work laptop' });
    expect(res.status).toBe(201);
    expect(res.body.passkey).toMatchObject({ name: 'Work laptop', backedUp: true, transports: ['internal', 'hybrid'] });
    expect(res.body.backupCodes).toHaveLength(10);
    // The session it was registered from passed a factor now.
    expect((await session(res.body.accessToken as string)).body.mfa).toBe(true);

    const [stored] = await models().PasskeyCredential.find({ userId }).lean();
    expect(Object.keys(stored).sort()).toEqual(
      [
        '_id',
        'userId',
        'credentialId',
        'publicKey',
        'counter',
        'transports',
        'deviceType',
        'backedUp',
        'name',
        'createdAt',
        'lastUsedAt',
      ].sort(),
    );
    expect(stored.credentialId).toBe(response.id);
    expect((await models().User.findById(userId).lean())?.mfa.methods).toEqual(['passkey']);
    expect(mailsTo(email, /A passkey was added/)).toHaveLength(1);
    expect(await s.t.container.models.AuditEvent.countDocuments({ action: 'mfa.passkey.added', actorId: userId })).toBe(
      1,
    );
  });

  it('when a user with a passkey signs in, then the password step offers it and the assertion gives a 2FA session, audited, with the counter and last use stored', async () => {
    const email = 'second.step@passkeys.example';
    const { userId, credential } = await userWithPasskey(s.t, authenticator, email);
    const password = await login(s.t, email);
    expect(password.body).toMatchObject({ mfaRequired: true, methods: expect.arrayContaining(['passkey', 'backup']) });
    const mfaToken = password.body.mfaToken as string;
    const options = await secondStepOptions(s.t, mfaToken);
    expect(options).toMatchObject({
      rpId: PASSKEY_RP_ID,
      userVerification: 'required',
      allowCredentials: [expect.objectContaining({ id: credential.id })],
    });
    const res = await request(s.t.app)
      .post(`${passkeyApi}/authentication/verify`)
      .send({ mfaToken, credential: authenticator.get(options, credential) });
    expect(res.status).toBe(200);
    expect((await session(res.body.accessToken as string)).body).toMatchObject({ userId, mfa: true });
    const stored = await models().PasskeyCredential.findOne({ userId }).lean();
    expect(stored?.counter).toBe(credential.counter);
    expect(stored?.lastUsedAt).toBeInstanceOf(Date);
    const audit = await models()
      .AuditEvent.findOne({ action: 'auth.login', actorId: userId, outcome: 'succeeded' })
      .sort({ seq: -1 })
      .lean();
    expect(audit?.details).toMatchObject({ mfa: 'passkey' });

    // One mfaToken opens one session.
    const again = await request(s.t.app)
      .post(`${passkeyApi}/authentication/verify`)
      .send({
        mfaToken,
        credential: authenticator.get(await secondStepOptions(s.t, await passwordStep(s.t, email)), credential),
      });
    expectProblem(again, 401, /invalid-token$/);
  });

  it('when two valid assertions race and the older counter is stored last, then the stored counter does not move backwards', async () => {
    const email = 'counter.race@passkeys.example';
    const { userId, credential } = await userWithPasskey(s.t, authenticator, email);
    const [{ counter: start }] = await models().PasskeyCredential.find({ userId }).lean();
    // Two sign-ins of the same authenticator: `older` signed before `newer`.
    const olderToken = await passwordStep(s.t, email);
    const older = authenticator.get(await secondStepOptions(s.t, olderToken), credential, { counter: start + 1 });
    const newerToken = await passwordStep(s.t, email);
    const newer = authenticator.get(await secondStepOptions(s.t, newerToken), credential, { counter: start + 2 });
    credential.counter = start + 2;
    // The worst interleaving: `older` passed its counter check (against `start`), then `newer`
    // completes entirely, then `older` stores its counter.
    const passkeys = models().PasskeyCredential;
    const updateOne = passkeys.updateOne.bind(passkeys);
    let raced = false;
    let newerStatus = 0;
    const spy = jest.spyOn(passkeys, 'updateOne').mockImplementation(((filter: object, update: object) => {
      if (raced) return updateOne(filter, update);
      raced = true;
      return request(s.t.app)
        .post(`${passkeyApi}/authentication/verify`)
        .send({ mfaToken: newerToken, credential: newer })
        .then((res) => {
          newerStatus = res.status;
          return updateOne(filter, update);
        });
    }) as unknown as typeof passkeys.updateOne);
    let olderStatus: number;
    try {
      olderStatus = (
        await request(s.t.app)
          .post(`${passkeyApi}/authentication/verify`)
          .send({ mfaToken: olderToken, credential: older })
      ).status;
    } finally {
      spy.mockRestore();
    }
    expect({ raced, olderStatus, newerStatus }).toEqual({ raced: true, olderStatus: 200, newerStatus: 200 });
    expect((await models().PasskeyCredential.findOne({ userId }).lean())?.counter).toBe(start + 2);
    // So a replay of the older counter is still seen for what it is.
    const next = await passwordStep(s.t, email);
    const stale = await request(s.t.app)
      .post(`${passkeyApi}/authentication/verify`)
      .send({
        mfaToken: next,
        credential: authenticator.get(await secondStepOptions(s.t, next), credential, { counter: start + 1 }),
      });
    expectProblem(stale, 401, /passkey-counter-regression$/);
  });

  it('when the role may sign in passwordless, then a discoverable passkey alone gives a 2FA session; for other roles it is refused with 403', async () => {
    const manager = await userWithPasskey(s.t, authenticator, 'pwless.manager@passkeys.example', 'manager');
    const options = await request(s.t.app).post(`${passkeyApi}/passwordless/options`);
    expect(options.status).toBe(200);
    expect(options.body.allowCredentials ?? []).toEqual([]);
    const ok = await request(s.t.app)
      .post(`${passkeyApi}/passwordless/verify`)
      .send({ credential: authenticator.get(options.body, manager.credential) });
    expect(ok.status).toBe(200);
    expect((await session(ok.body.accessToken as string)).body).toMatchObject({ userId: manager.userId, mfa: true });
    const audit = await models()
      .AuditEvent.findOne({ action: 'auth.login', actorId: manager.userId, outcome: 'succeeded' })
      .sort({ seq: -1 })
      .lean();
    expect(audit?.details).toMatchObject({ mfa: 'passkey', passwordless: true });

    const plain = await userWithPasskey(s.t, authenticator, 'pwless.user@passkeys.example', 'user');
    const sessions = await models().Session.countDocuments({ userId: plain.userId });
    const other = await request(s.t.app).post(`${passkeyApi}/passwordless/options`);
    const refused = await request(s.t.app)
      .post(`${passkeyApi}/passwordless/verify`)
      .send({ credential: authenticator.get(other.body, plain.credential) });
    expectProblem(refused, 403, /passwordless-not-allowed$/);
    expect(await models().Session.countDocuments({ userId: plain.userId })).toBe(sessions);
  });

  it('when the same passwordless answer is sent five times at once, then exactly one session opens', async () => {
    const manager = await userWithPasskey(s.t, authenticator, 'pwless.race@passkeys.example', 'manager');
    const sessions = await models().Session.countDocuments({ userId: manager.userId });
    const options = await request(s.t.app).post(`${passkeyApi}/passwordless/options`);
    const answer = authenticator.get(options.body, manager.credential);
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        request(s.t.app).post(`${passkeyApi}/passwordless/verify`).send({ credential: answer }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
    expect(await models().Session.countDocuments({ userId: manager.userId })).toBe(sessions + 1);
    // The losers replayed a spent challenge: no cloned-authenticator alarm.
    expect(results.filter((r) => r.status === 401).map((r) => r.body.type as string)).toEqual(
      Array.from({ length: 4 }, () => expect.stringMatching(/passkey-challenge-used$/)),
    );
    expect(
      await models().Alert.countDocuments({
        kind: 'auth.passkey-counter-regression',
        'details.userId': manager.userId,
      }),
    ).toBe(0);
  });

  it('when the account is locked by the second-factor cap, then passwordless sign-in is refused too', async () => {
    const manager = await userWithPasskey(s.t, authenticator, 'pwless.locked@passkeys.example', 'manager');
    await models().User.updateOne({ _id: manager.userId }, { $set: { secondFactorFailures: 100 } });
    const options = await request(s.t.app).post(`${passkeyApi}/passwordless/options`);
    const res = await request(s.t.app)
      .post(`${passkeyApi}/passwordless/verify`)
      .send({ credential: authenticator.get(options.body, manager.credential) });
    expectProblem(res, 403, /account-locked$/);
  });

  it('when a user lists and renames passkeys, then the list shows name, dates, transports and the backed-up flag of their own passkeys only', async () => {
    const { accessToken } = await userWithPasskey(s.t, authenticator, 'list@passkeys.example');
    const other = await userWithPasskey(s.t, authenticator, 'list.other@passkeys.example');
    const listed = await request(s.t.app)
      .get(passkeyApi)
      .set(...bearer(accessToken));
    expect(listed.status).toBe(200);
    expect(listed.body.passkeys).toEqual([
      {
        id: expect.any(String),
        name: 'Synced passkey',
        createdAt: expect.any(String),
        lastUsedAt: null,
        transports: ['internal', 'hybrid'],
        backedUp: true,
        deviceType: 'multiDevice',
      },
    ]);
    const id = listed.body.passkeys[0].id as string;
    const renamed = await request(s.t.app)
      .patch(`${passkeyApi}/${id}`)
      .set(...bearer(accessToken))
      .send({ name: 'Phone' });
    expect(renamed.body).toMatchObject({ id, name: 'Phone' });
    const [othersKey] = (
      await request(s.t.app)
        .get(passkeyApi)
        .set(...bearer(other.accessToken))
    ).body.passkeys as Array<{ id: string }>;
    const foreign = await request(s.t.app)
      .patch(`${passkeyApi}/${othersKey.id}`)
      .set(...bearer(accessToken))
      .send({ name: 'Mine now' });
    expectProblem(foreign, 404);
  });

  it('when a passkey is removed, then it needs a 2FA session and the password, the user is e-mailed, and without factors left 2FA is off', async () => {
    const email = 'remove@passkeys.example';
    const { userId, accessToken } = await userWithPasskey(s.t, authenticator, email);
    const [{ _id: id }] = await models().PasskeyCredential.find({ userId }).lean();
    const { session: plain } = await s.t.container.sessions.create(userId, false);
    const passwordOnly = s.t.container.tokens.signAccess({
      sub: userId,
      sid: plain._id,
      role: 'user',
      dept: null,
      mfa: false,
      enroll: false,
    });
    const noMfa = await request(s.t.app)
      .delete(`${passkeyApi}/${id}`)
      .set(...bearer(passwordOnly))
      .send({ password: PASSWORD });
    expectProblem(noMfa, 403, /second-factor-session-required$/);
    const wrong = await request(s.t.app)
      .delete(`${passkeyApi}/${id}`)
      .set(...bearer(accessToken))
      .send({ password: 'not-the-password-at-all' });
    expectProblem(wrong, 403);
    expect(await models().PasskeyCredential.countDocuments({ userId })).toBe(1);

    const removed = await request(s.t.app)
      .delete(`${passkeyApi}/${id}`)
      .set(...bearer(accessToken))
      .send({ password: PASSWORD });
    expect(removed.status).toBe(204);
    expect(await models().PasskeyCredential.countDocuments({ userId })).toBe(0);
    const user = await models().User.findById(userId).lean();
    expect(user?.mfa.methods).toEqual([]);
    expect(user?.mfa.backupCodes).toEqual([]);
    expect(mailsTo(email, /A passkey was removed/)).toHaveLength(1);
    expect((await login(s.t, email)).body.mfaRequired).toBe(false);
  });

  it('when a registration lands while the last passkey is being removed, then the new passkey keeps its place among the sign-in methods', async () => {
    const email = 'remove.race@passkeys.example';
    const { userId, accessToken } = await userWithPasskey(s.t, authenticator, email);
    const [{ _id: oldId }] = await models().PasskeyCredential.find({ userId }).lean();
    const codesBefore = (await models().User.findById(userId).lean())?.mfa.backupCodes ?? [];
    expect(codesBefore.length).toBeGreaterThan(0);
    // The worst interleaving: the removal has counted no passkey left, then a registration
    // (another tab) stores its passkey and adds the method, then the removal's $pull runs.
    const users = models().User;
    const updateOne = users.updateOne.bind(users);
    let raced = false;
    const spy = jest.spyOn(users, 'updateOne').mockImplementation(((filter: object, update: object) => {
      const pull = (update as { $pull?: Record<string, unknown> }).$pull;
      if (raced || pull?.['mfa.methods'] !== 'passkey') return updateOne(filter, update);
      raced = true;
      return registerPasskey(s.t, authenticator, accessToken, { name: 'Added meanwhile' }).then(
        ({ res, credential }) => {
          expect(res.status).toBe(201);
          authenticator.keep(credential);
          return updateOne(filter, update);
        },
      );
    }) as unknown as typeof users.updateOne);
    try {
      const removed = await request(s.t.app)
        .delete(`${passkeyApi}/${oldId}`)
        .set(...bearer(accessToken))
        .send({ password: PASSWORD });
      expect(removed.status).toBe(204);
    } finally {
      spy.mockRestore();
    }
    expect(raced).toBe(true);
    const left = await models().PasskeyCredential.find({ userId }).lean();
    expect(left.map((c) => c.name)).toEqual(['Added meanwhile']);
    const user = await models().User.findById(userId).lean();
    expect(user?.mfa.methods).toEqual(['passkey']);
    expect(user?.mfa.backupCodes).toHaveLength(codesBefore.length);
    // The password step offers the passkey that is left.
    const signIn = await login(s.t, email);
    expect(signIn.body).toMatchObject({ mfaRequired: true });
    expect(signIn.body.methods).toContain('passkey');
  });

  it('when the passkey is the last factor of a role that must keep one, then it cannot be removed (409 last-factor); with a second passkey it can', async () => {
    const email = 'admin.last@passkeys.example';
    const userId = await createUser(s.t, email, 'admin');
    const enrollOnly = await login(s.t, email);
    expect(enrollOnly.body.enrollmentRequired).toBe(true);
    const { res, credential } = await registerPasskey(s.t, authenticator, enrollOnly.body.accessToken as string);
    expect(res.status).toBe(201);
    authenticator.keep(credential);
    const token = res.body.accessToken as string;
    const [only] = await models().PasskeyCredential.find({ userId }).lean();
    const refused = await request(s.t.app)
      .delete(`${passkeyApi}/${only._id}`)
      .set(...bearer(token))
      .send({ password: PASSWORD });
    expectProblem(refused, 409, /last-factor$/);
    expect(await models().PasskeyCredential.countDocuments({ userId })).toBe(1);

    const second = await registerPasskey(s.t, authenticator, token, { name: 'Spare key' });
    expect(second.res.status).toBe(201);
    const removed = await request(s.t.app)
      .delete(`${passkeyApi}/${only._id}`)
      .set(...bearer(token))
      .send({ password: PASSWORD });
    expect(removed.status).toBe(204);
    expect((await models().User.findById(userId).lean())?.mfa.methods).toEqual(['passkey']);
  });

  it('when a user with another factor adds a passkey from a password-only session, then 403 second-factor-session-required', async () => {
    const email = 'has.factor@passkeys.example';
    const { userId } = await userWithPasskey(s.t, authenticator, email);
    const { session: plain } = await s.t.container.sessions.create(userId, false);
    const passwordOnly = s.t.container.tokens.signAccess({
      sub: userId,
      sid: plain._id,
      role: 'user',
      dept: null,
      mfa: false,
      enroll: false,
    });
    const res = await request(s.t.app)
      .post(`${passkeyApi}/registration/options`)
      .set(...bearer(passwordOnly))
      .send({ password: PASSWORD });
    expectProblem(res, 403, /second-factor-session-required$/);
  });

  it('when a person exports their data, then their passkeys are listed without key material; when erased, their passkeys are gone', async () => {
    const email = 'gdpr@passkeys.example';
    const { userId, accessToken } = await userWithPasskey(s.t, authenticator, email);
    const exported = await request(s.t.app)
      .post(`/api/v1/gdpr/users/${userId}/export`)
      .set(...bearer(accessToken))
      .send({});
    expect(exported.status).toBe(200);
    expect(exported.body.passkeys).toEqual([
      expect.objectContaining({ name: 'Synced passkey', credentialId: expect.any(String), backedUp: true }),
    ]);
    expect(exported.body.passkeys[0].publicKey).toBeUndefined();

    // An admin who passed 2FA: here admins must have a factor enrolled, or their sessions are enrollment-only.
    const adminId = await createUser(s.t, 'gdpr.admin@passkeys.example', 'admin');
    await models().User.updateOne({ _id: adminId }, { $set: { 'mfa.methods': ['totp'] } });
    const admin = await mfaSession(s.t, adminId);
    const erased = await request(s.t.app)
      .post(`/api/v1/gdpr/users/${userId}/erase`)
      .set(...bearer(admin));
    expect(erased.status).toBe(200);
    expect(await models().PasskeyCredential.countDocuments({ userId })).toBe(0);
  });

  it('when an administrator resets a user’s second factors, then the passkeys are removed with them', async () => {
    const { userId } = await userWithPasskey(s.t, authenticator, 'reset@passkeys.example');
    await s.t.container.deps.identity.twoFactor.clearFactors(userId, { requireEnrollment: true });
    expect(await models().PasskeyCredential.countDocuments({ userId })).toBe(0);
  });
});
