import request from 'supertest';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { bearer, PASSWORD } from '../support/users';
import { enrollTotp, oathtool, passwordStep } from '../support/two-factor';

const TWILIO_SID = 'AC' + '5'.repeat(32);

/**
 * A TOTP code is accepted once (replay protection). Signing in with the code that just
 * enabled the authenticator, or that just signed in, is refused, but is no guess: it must
 * not count toward any lock, and the answer must say to wait for the next code.
 */
describe('a TOTP code already used by the same user', () => {
  let s: SenderTestApp;

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, TWILIO_SID);
  });
  afterAll(() => s.close());

  const verify = (mfaToken: string, code: string) =>
    request(s.t.app).post('/api/v1/auth/2fa/verify').send({ mfaToken, method: 'totp', code });
  const accountCount = async (userId: string): Promise<number> =>
    Number((await s.t.container.redis.get(`guard:mfa:acct:${userId}`)) ?? 0);

  const expectAlreadyUsed = (res: request.Response, status: number): void => {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.type).toMatch(/\/code-already-used$/);
    expect(res.body.detail).toMatch(/wait for the next code/i);
    expect(res.body.accessToken).toBeUndefined();
  };

  it('when signing in right after enabling with the same code, then it is refused as already used, says to wait for the next code, and counts toward no lock', async () => {
    const { userId, enableCode, secret } = await enrollTotp(s, 'just.enabled@reuse.example');
    const mfaToken = await passwordStep(s.t, 'just.enabled@reuse.example');
    // More tries than the sign-in's budget of 5: none of them is a guess.
    for (let i = 0; i < 7; i++) expectAlreadyUsed(await verify(mfaToken, enableCode), 401);
    expect(await accountCount(userId)).toBe(0);
    expect((await s.t.container.models.User.findById(userId).lean())!.secondFactorFailures).toBe(0);

    // Wrong codes still have exactly their 5 tries in this sign-in.
    const wrong: number[] = [];
    for (let i = 0; i < 6; i++) wrong.push((await verify(mfaToken, String(400000 + i))).status);
    expect(wrong).toEqual([401, 401, 401, 401, 401, 403]);

    s.clock.advance(30_000);
    const next = await verify(await passwordStep(s.t, 'just.enabled@reuse.example'), oathtool(secret, s.clock.now()));
    expect(next.status).toBe(200);
  });

  it('when a code that just signed in is presented again in another sign-in, then it is refused as already used and not counted', async () => {
    const { userId, secret } = await enrollTotp(s, 'signed.in@reuse.example');
    s.clock.advance(30_000);
    const code = oathtool(secret, s.clock.now());
    expect((await verify(await passwordStep(s.t, 'signed.in@reuse.example'), code)).status).toBe(200);
    const again = await passwordStep(s.t, 'signed.in@reuse.example');
    expectAlreadyUsed(await verify(again, code), 401);
    expect(await accountCount(userId)).toBe(0);
    expect(
      await s.t.container.database
        .db()
        .collection('audit_events')
        .countDocuments({ action: 'mfa.totp.replay', actorId: userId }),
    ).toBe(1);
  });

  it('when turning 2FA off with a code already used, then it is refused as already used (403) and the right next code works', async () => {
    const { accessToken, enableCode, secret } = await enrollTotp(s, 'disable@reuse.example');
    const disable = (code: string) =>
      request(s.t.app)
        .post('/api/v1/auth/2fa/disable')
        .set(...bearer(accessToken))
        .send({ password: PASSWORD, method: 'totp', code });
    for (let i = 0; i < 6; i++) expectAlreadyUsed(await disable(enableCode), 403);
    s.clock.advance(30_000);
    expect((await disable(oathtool(secret, s.clock.now()))).status).toBe(204);
  });
});
