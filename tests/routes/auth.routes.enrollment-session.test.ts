import request from 'supertest';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { lastSmsCode } from '../support/peers';
import { bearer, createUser, login, PASSWORD } from '../support/users';
import { enrollEmail, enrollTotp } from '../support/two-factor';

const TWILIO_SID = 'AC' + '6'.repeat(32);

/**
 * Confirming a factor proves it: the session it was enrolled from becomes a 2FA session.
 * The enable answer carries an access token for it, and its refresh token refreshes to
 * mfa=true, so an administrator who had to enroll can act at once.
 */
describe('enrolling a second factor upgrades the session to 2FA', () => {
  let s: SenderTestApp;

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, TWILIO_SID, { MFA_REQUIRED_ROLES: 'admin' });
  });
  afterAll(() => s.close());

  const listUsers = (accessToken: string) =>
    request(s.t.app)
      .get('/api/v1/users')
      .set(...bearer(accessToken));
  const sessionOf = async (accessToken: string) =>
    (
      await request(s.t.app)
        .get('/api/v1/auth/session')
        .set(...bearer(accessToken))
    ).body as { mfa: boolean; enrollmentRequired: boolean };

  it('when an admin who must enroll confirms email 2FA, then the enable answer is an access token of a 2FA session that reaches admin-only routes at once', async () => {
    const { accessToken, refreshToken, enabled } = await enrollEmail(s, 'admin.email@enroll.example', 'admin');
    expect(await sessionOf(accessToken)).toMatchObject({ mfa: false, enrollmentRequired: true });
    expect(enabled.body).toMatchObject({
      backupCodes: expect.any(Array),
      accessToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 900,
      enrollmentRequired: false,
    });
    expect(enabled.body.refreshToken).toBeUndefined();
    expect(await sessionOf(enabled.body.accessToken)).toMatchObject({ mfa: true, enrollmentRequired: false });
    expect((await listUsers(enabled.body.accessToken)).status).toBe(200);

    // The session's own refresh token now refreshes to mfa=true as well.
    const refreshed = await request(s.t.app).post('/api/v1/auth/refresh').send({ refreshToken });
    expect(refreshed.status).toBe(200);
    expect(await sessionOf(refreshed.body.accessToken)).toMatchObject({ mfa: true, enrollmentRequired: false });
    expect((await listUsers(refreshed.body.accessToken)).status).toBe(200);
    expect(
      await s.t.container.database
        .db()
        .collection('audit_events')
        .countDocuments({ action: 'auth.session.mfa-upgraded', resource: 'session' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('when an admin confirms an authenticator app, then the session is a 2FA session too', async () => {
    const { refreshToken, enabled } = await enrollTotp(s, 'admin.totp@enroll.example', 'admin');
    expect((await listUsers(enabled.body.accessToken)).status).toBe(200);
    const refreshed = await request(s.t.app).post('/api/v1/auth/refresh').send({ refreshToken });
    expect((await listUsers(refreshed.body.accessToken)).status).toBe(200);
  });

  it('when an admin confirms SMS 2FA, then the session is a 2FA session too', async () => {
    await createUser(s.t, 'admin.sms@enroll.example', 'admin');
    const session = (await login(s.t, 'admin.sms@enroll.example')).body as { accessToken: string };
    expect(
      (
        await request(s.t.app)
          .post('/api/v1/auth/2fa/sms/setup')
          .set(...bearer(session.accessToken))
          .send({ password: PASSWORD, phone: '+15005550199' })
      ).status,
    ).toBe(202);
    const enabled = await request(s.t.app)
      .post('/api/v1/auth/2fa/sms/enable')
      .set(...bearer(session.accessToken))
      .send({ code: lastSmsCode(s.twilioPeer.requests, '+15005550199') });
    expect(enabled.status).toBe(200);
    expect((await listUsers(enabled.body.accessToken)).status).toBe(200);
  });

  it('when a wrong code is given to confirm enrollment, then the session stays without 2FA and no token is issued', async () => {
    await createUser(s.t, 'admin.wrong@enroll.example', 'admin');
    const session = (await login(s.t, 'admin.wrong@enroll.example')).body as {
      accessToken: string;
      refreshToken: string;
    };
    await request(s.t.app)
      .post('/api/v1/auth/2fa/email/setup')
      .set(...bearer(session.accessToken))
      .send({ password: PASSWORD });
    const wrong = await request(s.t.app)
      .post('/api/v1/auth/2fa/email/enable')
      .set(...bearer(session.accessToken))
      .send({ code: '000000-not' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.accessToken).toBeUndefined();
    const refreshed = await request(s.t.app).post('/api/v1/auth/refresh').send({ refreshToken: session.refreshToken });
    expect(await sessionOf(refreshed.body.accessToken)).toMatchObject({ mfa: false, enrollmentRequired: true });
  });
});
