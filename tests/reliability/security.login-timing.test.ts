import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { expectProblem } from '../support/problems';
import { bearer, createUser, login, mfaSession, PASSWORD } from '../support/users';

const SAMPLES = 25;
const WARM_UP = 3;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** A documentation address per sample (TEST-NET-2/3), so neither the rate limit nor the login guard joins in. */
const sampleIp = (i: number): string => `198.51.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;

describe('sign-in: no user enumeration by timing, no sign-in by lookalike addresses', () => {
  let t: TestApp;
  beforeAll(async () => {
    // The lowest cost config allows (production uses 12): the dummy hash of unknown users is made
    // at the same cost, so the comparison holds at any cost, and 12 costs over a second per try here.
    t = await buildTestApp(__filename, { ...ROUTE_TEST_ENV, BCRYPT_COST: '10' });
    await createUser(t, 'anna@timing.example', 'user', 'sales');
  }, 60_000);
  afterAll(() => t.close());

  it('when unknown users and wrong passwords are tried many times, then the median answer times differ by less than 20%', async () => {
    const timeOne = async (email: string, i: number): Promise<number> => {
      const started = process.hrtime.bigint();
      const res = await login(t, email, 'wrong-password-for-timing', sampleIp(i));
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      expectProblem(res, 401);
      return ms;
    };
    const unknown: number[] = [];
    const wrong: number[] = [];
    // Interleaved, so load on the shared machine falls on both series alike.
    for (let i = 0; i < WARM_UP + SAMPLES; i++) {
      const u = await timeOne(`nobody-${i}@timing.example`, 2 * i);
      const w = await timeOne('anna@timing.example', 2 * i + 1);
      if (i >= WARM_UP) {
        unknown.push(u);
        wrong.push(w);
      }
    }
    const [mu, mw] = [median(unknown), median(wrong)];
    const difference = Math.abs(mu - mw) / Math.min(mu, mw);
    console.info(
      `login timing over ${SAMPLES} samples each: unknown user median ${mu.toFixed(1)} ms, wrong password median ${mw.toFixed(1)} ms, difference ${(difference * 100).toFixed(1)}%`,
    );
    // A missing dummy hash would make unknown users several times faster (no bcrypt at all).
    expect(Math.min(mu, mw)).toBeGreaterThan(20);
    expect(difference).toBeLessThan(0.2);
  });

  const LOOKALIKES: Array<[string, string]> = [
    ['a Cyrillic а in the local part', '\u0430nna@timing.example'],
    ['a Cyrillic е in the domain', 'anna@timing.\u0435xample'],
    ['a fullwidth ａ', '\uff41nna@timing.example'],
    ['a fullwidth @', 'anna\uff20timing.example'],
    ['a zero-width space appended', 'anna@timing.example\u200b'],
    ['a trailing dot on the domain', 'anna@timing.example.'],
    ['a combining mark', 'anna\u0301@timing.example'],
  ];

  it("when the real password is sent with an address that only looks like the user's (Cyrillic or fullwidth letters, zero-width space, combining mark, trailing dot), then no sign-in and no match", async () => {
    for (const [name, lookalike] of LOOKALIKES) {
      const res = await login(t, lookalike, PASSWORD, '203.0.113.77');
      expect({ name, refused: [400, 401].includes(res.status) }).toEqual({ name, refused: true });
      expectProblem(res, res.status);
      expect(res.body.accessToken).toBeUndefined();
      expect(JSON.stringify(res.body)).not.toContain('anna@timing.example');
    }
  });

  it('when an admin creates an account whose address is a lookalike of an existing one, then 400 and no second account', async () => {
    const admin = await mfaSession(t, await createUser(t, 'root@timing.example', 'admin', 'it'));
    const before = await t.container.database.db().collection('users').countDocuments();
    for (const email of ['\u0430nna@timing.example', 'anna@timing.\u0435xample', 'anna@timing.example\u200b']) {
      const res = await request(t.app)
        .post('/api/v1/users')
        .set(...bearer(admin))
        .send({ email, name: 'Fake Anna', role: 'user', password: 'a-long-and-unusual-passphrase-42' });
      expectProblem(res, 400);
    }
    expect(await t.container.database.db().collection('users').countDocuments()).toBe(before);
  });

  it('when the address differs only in letter case, then it is the same account (case is not a lookalike)', async () => {
    const res = await login(t, 'ANNA@Timing.Example', PASSWORD, '203.0.113.78');
    expect(res.status).toBe(200);
    expect(res.body.accessToken).toEqual(expect.any(String));
  });
});
