import request from 'supertest';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { enrollTotp, oathtool, passwordStep } from '../support/two-factor';

const TWILIO_SID = 'AC' + '4'.repeat(32);

describe('one guessing budget per sign-in, across second factors', () => {
  let s: SenderTestApp;

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, TWILIO_SID);
  });
  afterAll(() => s.close());

  const verify = (mfaToken: string, method: string, code: string) =>
    request(s.t.app).post('/api/v1/auth/2fa/verify').send({ mfaToken, method, code });

  it('when one factor has locked a sign-in, then the same mfaToken gets no guesses at another factor, not even a right one', async () => {
    const { enabled } = await enrollTotp(s, 'locked.factor@budget.example');
    const backupCodes = enabled.body.backupCodes as string[];
    const mfaToken = await passwordStep(s.t, 'locked.factor@budget.example');
    for (let i = 0; i < 5; i++) expect((await verify(mfaToken, 'totp', String(200000 + i))).status).toBe(401);
    expect((await verify(mfaToken, 'totp', '200009')).body.type).toMatch(/factor-locked$/);

    const other = await verify(mfaToken, 'backup', 'AAAAA-BBBBB');
    expect(other.status).toBe(403);
    expect(other.body.type).toMatch(/factor-locked$/);
    const right = await verify(mfaToken, 'backup', backupCodes[0]);
    expect(right.status).toBe(403);
    expect(right.body.accessToken).toBeUndefined();

    // A fresh sign-in starts with a fresh budget, and the backup code was not used up.
    const ok = await verify(await passwordStep(s.t, 'locked.factor@budget.example'), 'backup', backupCodes[0]);
    expect(ok.status).toBe(200);
  });

  it('when wrong codes are spread over two factors, then together they get 5 tries per sign-in', async () => {
    const { secret } = await enrollTotp(s, 'spread@budget.example');
    const mfaToken = await passwordStep(s.t, 'spread@budget.example');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await verify(mfaToken, 'totp', String(300000 + i))).status);
    for (let i = 0; i < 2; i++) statuses.push((await verify(mfaToken, 'backup', `CCCCC-DDDD${i + 2}`)).status);
    s.clock.advance(30_000);
    statuses.push((await verify(mfaToken, 'totp', oathtool(secret, s.clock.now()))).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 403]);
  });
});
