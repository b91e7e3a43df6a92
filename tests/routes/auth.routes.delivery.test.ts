import request from 'supertest';
import { buildAppWithSenders, buildTestApp, type SenderTestApp, type TestApp } from '../support/app';
import { lastCodeFor, lastSmsCode } from '../support/peers';
import { expectProblem } from '../support/problems';
import { bearer, createUser, login, PASSWORD } from '../support/users';

const TWILIO_SID = 'AC' + '2'.repeat(32);

describe('one-time code delivery over HTTP', () => {
  let t: TestApp;
  let smtp: SenderTestApp['smtp'];
  let twilioPeer: SenderTestApp['twilioPeer'];
  let clock: SenderTestApp['clock'];
  let stopAll: () => Promise<void>;

  beforeAll(async () => {
    ({ t, smtp, twilioPeer, clock, close: stopAll } = await buildAppWithSenders(__filename, TWILIO_SID));
  });
  afterAll(() => stopAll());

  const accessToken = async (email: string): Promise<string> => {
    const res = await login(t, email);
    expect(res.body.mfaRequired).toBe(false);
    return res.body.accessToken as string;
  };

  const mfaToken = async (email: string): Promise<string> => {
    const res = await login(t, email);
    expect(res.status).toBe(200);
    expect(res.body.mfaRequired).toBe(true);
    return res.body.mfaToken as string;
  };

  /** A user enrolled in email 2FA through the real routes. */
  const userWithEmail2fa = async (email: string): Promise<string> => {
    const id = await createUser(t, email);
    const token = await accessToken(email);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/email/setup')
          .set(...bearer(token))
          .send({ password: PASSWORD })
      ).status,
    ).toBe(202);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/email/enable')
          .set(...bearer(token))
          .send({ code: lastCodeFor(smtp.messages, email) })
      ).status,
    ).toBe(200);
    return id;
  };

  it('when the mail server refuses the enrollment code, then email setup answers 502 problem+json and the refused code cannot enable email 2FA', async () => {
    const id = await createUser(t, 'refused.setup@delivery.example');
    const token = await accessToken('refused.setup@delivery.example');
    smtp.failNext(1);
    const failed = await request(t.app)
      .post('/api/v1/auth/2fa/email/setup')
      .set(...bearer(token))
      .send({ password: PASSWORD });
    expectProblem(failed, 502, /bad-gateway$/);
    const refusedCode = lastCodeFor(smtp.refused, 'refused.setup@delivery.example');
    const enable = await request(t.app)
      .post('/api/v1/auth/2fa/email/enable')
      .set(...bearer(token))
      .send({ code: refusedCode });
    expectProblem(enable, 400, /bad-request$/);
    expect((await t.container.models.User.findById(id).lean())!.mfa.methods).toEqual([]);

    // The failure left nothing blocking: a retry is sent at once and its code works.
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/email/setup')
          .set(...bearer(token))
          .send({ password: PASSWORD })
      ).status,
    ).toBe(202);
    const fresh = lastCodeFor(smtp.messages, 'refused.setup@delivery.example');
    if (fresh !== refusedCode) {
      expect(
        (
          await request(t.app)
            .post('/api/v1/auth/2fa/email/enable')
            .set(...bearer(token))
            .send({ code: refusedCode })
        ).status,
      ).toBe(400);
    }
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/email/enable')
          .set(...bearer(token))
          .send({ code: fresh })
      ).status,
    ).toBe(200);
    expect((await t.container.models.User.findById(id).lean())!.mfa.methods).toEqual(['email']);
  });

  it('when the mail server refuses a login code, then the challenge answers 502 problem+json, the refused code does not sign in, and the failure is logged under the response request id', async () => {
    await userWithEmail2fa('refused.login@delivery.example');
    const mfa = await mfaToken('refused.login@delivery.example');
    smtp.failNext(1);
    const failed = await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: mfa, method: 'email' });
    expectProblem(failed, 502, /bad-gateway$/);
    const refusedCode = lastCodeFor(smtp.refused, 'refused.login@delivery.example');
    const verify = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: mfa, method: 'email', code: refusedCode });
    expectProblem(verify, 401, /invalid-code$/);
    expect(verify.body.accessToken).toBeUndefined();

    // The sender's own log line (written inside the service) carries the request's id.
    t.logger.flush();
    const line = t.logs
      .records()
      .filter((r) => r.msg === 'email delivery failed')
      .at(-1);
    expect(line).toMatchObject({ level: 'error', requestId: failed.headers['x-request-id'] });
    expect(JSON.stringify(line)).not.toContain(refusedCode);
  });

  it('when Twilio fails to send the enrollment code, then SMS setup answers 502 problem+json and the unsent code cannot enroll the phone', async () => {
    const id = await createUser(t, 'refused.sms@delivery.example');
    const token = await accessToken('refused.sms@delivery.example');
    twilioPeer.failNext(1);
    const failed = await request(t.app)
      .post('/api/v1/auth/2fa/sms/setup')
      .set(...bearer(token))
      .send({ password: PASSWORD, phone: '+15005550101' });
    expectProblem(failed, 502, /bad-gateway$/);
    const unsent = lastSmsCode(twilioPeer.requests, '+15005550101');
    const enable = await request(t.app)
      .post('/api/v1/auth/2fa/sms/enable')
      .set(...bearer(token))
      .send({ code: unsent });
    expectProblem(enable, 400, /bad-request$/);
    const user = (await t.container.models.User.findById(id).lean())!;
    expect(user.mfa.methods).toEqual([]);
    expect(user.phoneVerified).toBe(false);
  });

  it('when an emailed login code is 9.5 minutes old, then it signs in; when it is just over 10 minutes old, then it is refused', async () => {
    await userWithEmail2fa('clock@delivery.example');
    clock.advance(2 * 60_000); // past the one-a-minute resend limit of the enrollment mail

    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/challenge')
          .send({ mfaToken: await mfaToken('clock@delivery.example'), method: 'email' })
      ).status,
    ).toBe(202);
    const young = lastCodeFor(smtp.messages, 'clock@delivery.example');
    clock.advance(9.5 * 60_000);
    const ok = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: await mfaToken('clock@delivery.example'), method: 'email', code: young });
    expect(ok.status).toBe(200);
    expect(ok.body.accessToken).toEqual(expect.any(String));

    clock.advance(2 * 60_000);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/challenge')
          .send({ mfaToken: await mfaToken('clock@delivery.example'), method: 'email' })
      ).status,
    ).toBe(202);
    const old = lastCodeFor(smtp.messages, 'clock@delivery.example');
    clock.advance(10 * 60_000 + 1_000);
    const late = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: await mfaToken('clock@delivery.example'), method: 'email', code: old });
    expectProblem(late, 401, /invalid-code$/);
    expect(late.body.accessToken).toBeUndefined();
  });
});

describe('one-time code delivery with no mail server or Twilio configured', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_AUTH: '1000/900',
      RATE_LIMIT_GENERAL: '10000/60',
    });
    expect(t.config.mail.smtpUrl).toBeUndefined();
    expect(t.config.sms).toBeUndefined();
  });
  afterAll(async () => {
    await t.close();
  });

  it('when a user sets up email or SMS 2FA, then 503 problem+json and no pending code is left behind', async () => {
    const id = await createUser(t, 'nomail@delivery.example');
    const token = (await login(t, 'nomail@delivery.example')).body.accessToken as string;
    expectProblem(
      await request(t.app)
        .post('/api/v1/auth/2fa/email/setup')
        .set(...bearer(token))
        .send({ password: PASSWORD }),
      503,
      /service-unavailable$/,
    );
    expectProblem(
      await request(t.app)
        .post('/api/v1/auth/2fa/sms/setup')
        .set(...bearer(token))
        .send({ password: PASSWORD, phone: '+15005550102' }),
      503,
      /service-unavailable$/,
    );
    expect(await t.container.models.OtpChallenge.countDocuments({ userId: id })).toBe(0);
  });

  it('when a user enrolled in email and SMS signs in, then asking for either code answers 503 problem+json', async () => {
    const id = await createUser(t, 'nosend@delivery.example');
    await t.container.models.User.updateOne(
      { _id: id },
      { $set: { 'mfa.methods': ['email', 'sms'], phone: '+15005550103', phoneVerified: true } },
    );
    const res = await login(t, 'nosend@delivery.example');
    expect(res.body.mfaRequired).toBe(true);
    for (const method of ['email', 'sms']) {
      expectProblem(
        await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: res.body.mfaToken, method }),
        503,
        /service-unavailable$/,
      );
    }
    expect(await t.container.models.OtpChallenge.countDocuments({ userId: id })).toBe(0);
  });
});
