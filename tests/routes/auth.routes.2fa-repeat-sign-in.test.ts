import request from 'supertest';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { lastCodeFor } from '../support/peers';
import { enrollEmail, enrollTotp, oathtool, passwordStep } from '../support/two-factor';

const TWILIO_SID = 'AC' + '3'.repeat(32);

/**
 * The auth rate-limit tier at its production default (5 per 15 min per address and account):
 * a user who signs in with a second factor several times in a row must not run into it.
 */
describe('repeated sign-ins with a second factor under the default auth rate limit', () => {
  let s: SenderTestApp;

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, TWILIO_SID, { RATE_LIMIT_AUTH: '5/900' });
  });
  afterAll(() => s.close());

  const verify = (mfaToken: string, method: string, code: string) =>
    request(s.t.app).post('/api/v1/auth/2fa/verify').send({ mfaToken, method, code });

  it('when a user with email 2FA signs in five times in a row within minutes, then every sign-in succeeds', async () => {
    const email = 'five.times@repeat.example';
    await enrollEmail(s, email);
    for (let i = 1; i <= 5; i++) {
      s.clock.advance(61_000); // one code per minute per user, purpose and channel
      const mfaToken = await passwordStep(s.t, email);
      const challenge = await request(s.t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken, method: 'email' });
      expect({ signIn: i, status: challenge.status }).toEqual({ signIn: i, status: 202 });
      const ok = await verify(mfaToken, 'email', lastCodeFor(s.smtp.messages, email));
      expect({ signIn: i, status: ok.status }).toEqual({ signIn: i, status: 200 });
      expect(ok.body.accessToken).toEqual(expect.any(String));
    }
  });

  it('when a user with TOTP signs in six times in a row, then every sign-in succeeds; wrong codes still count exactly', async () => {
    const email = 'six.times@repeat.example';
    const { secret } = await enrollTotp(s, email);
    for (let i = 1; i <= 6; i++) {
      s.clock.advance(30_000); // each code is accepted once: the next step brings a fresh one
      const ok = await verify(await passwordStep(s.t, email), 'totp', oathtool(secret, s.clock.now()));
      expect({ signIn: i, status: ok.status }).toEqual({ signIn: i, status: 200 });
    }
    // Successes cleared the counter, wrong guesses did not: 5 answered, the 6th rate-limited.
    const mfaToken = await passwordStep(s.t, email);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await verify(mfaToken, 'totp', String(100000 + i))).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });
});
