import request from 'supertest';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { lastCodeFor } from '../support/peers';
import { createUser, login } from '../support/users';
import { enrollEmail, enrollTotp, passwordStep } from '../support/two-factor';

const TWILIO_SID = 'AC' + '8'.repeat(32);

/**
 * The numbers docs/AUTHENTICATION.md gives a client ("Guessing defences"), checked against
 * the app with its default limits (RATE_LIMIT_AUTH 5/900): what a client sees, in order.
 */
describe('the lock and backoff numbers of docs/AUTHENTICATION.md, at default limits', () => {
  let s: SenderTestApp;

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, TWILIO_SID, { RATE_LIMIT_AUTH: '5/900' });
  });
  afterAll(() => s.close());

  const verify = (mfaToken: string, method: string, code: string, ip: string) =>
    request(s.t.app).post('/api/v1/auth/2fa/verify').set('X-Forwarded-For', ip).send({ mfaToken, method, code });
  const retryAfter = (res: request.Response): number => Number(res.headers['retry-after']);

  it('when six wrong passwords come quickly from one address, then 401 three times, 429 with Retry-After: 1 twice (the guard), then 429 with Retry-After of about 900 (the rate limit)', async () => {
    await createUser(s.t, 'quick@limits.example');
    const answers: request.Response[] = [];
    for (let i = 0; i < 6; i++)
      answers.push(await login(s.t, 'quick@limits.example', `quick-guess-${i}-xx`, '203.0.113.80'));
    expect(answers.map((r) => r.status)).toEqual([401, 401, 401, 429, 429, 429]);
    expect(answers.slice(3, 5).map(retryAfter)).toEqual([1, 1]);
    expect(retryAfter(answers[5])).toBeGreaterThanOrEqual(880);
    expect(retryAfter(answers[5])).toBeLessThanOrEqual(900);
    for (const r of answers.slice(3)) expect(r.body.type).toMatch(/\/rate-limited$/);
  });

  it('when TOTP codes are guessed from one address, then the 6th try gets 429 (rate limit, Retry-After about 900), not 403', async () => {
    await enrollTotp(s, 'totp@limits.example');
    const mfaToken = await passwordStep(s.t, 'totp@limits.example', '203.0.113.81');
    const answers: request.Response[] = [];
    for (let i = 0; i < 6; i++) answers.push(await verify(mfaToken, 'totp', String(500000 + i), '203.0.113.81'));
    expect(answers.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429]);
    expect(retryAfter(answers[5])).toBeGreaterThanOrEqual(880);
  });

  it('when an emailed code is guessed from one address, then the challenge counts too: 4 tries, then 429', async () => {
    await enrollEmail(s, 'email@limits.example');
    s.clock.advance(61_000);
    const mfaToken = await passwordStep(s.t, 'email@limits.example', '203.0.113.82');
    const challenge = await request(s.t.app)
      .post('/api/v1/auth/2fa/challenge')
      .set('X-Forwarded-For', '203.0.113.82')
      .send({ mfaToken, method: 'email' });
    expect(challenge.status).toBe(202);
    const right = lastCodeFor(s.smtp.messages, 'email@limits.example');
    const wrong = right === '000000' ? '000001' : '000000';
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await verify(mfaToken, 'email', wrong, '203.0.113.82')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
  });

  it('when code guesses of one sign-in come from two addresses, then the 6th gets 403 factor-locked', async () => {
    await enrollTotp(s, 'two.addresses@limits.example');
    const mfaToken = await passwordStep(s.t, 'two.addresses@limits.example', '203.0.113.83');
    for (let i = 0; i < 5; i++)
      expect((await verify(mfaToken, 'totp', String(600000 + i), '203.0.113.83')).status).toBe(401);
    const locked = await verify(mfaToken, 'totp', '600009', '198.51.100.83');
    expect(locked.status).toBe(403);
    expect(locked.body.type).toMatch(/\/factor-locked$/);
  });
});
