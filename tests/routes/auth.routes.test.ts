import { execFileSync } from 'node:child_process';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { buildAppWithSenders, type SenderTestApp, type TestApp } from '../support/app';
import { auditCount, auditEvents } from '../support/audit';
import { lastCodeFor, lastSmsCode } from '../support/peers';
import { enrollEmail2fa, userWithEmail2fa } from '../support/two-factor';
import { createUser, login, bearer, mfaSession, PASSWORD } from '../support/users';

const TWILIO_SID = 'AC' + '1'.repeat(32);

describe('authentication and 2FA over HTTP', () => {
  let t: TestApp;
  let smtp: SenderTestApp['smtp'];
  let twilioPeer: SenderTestApp['twilioPeer'];
  let clock: SenderTestApp['clock'];
  let stopAll: () => Promise<void>;
  /** Every password, code, secret and token the running test saw: none may reach a log line or the audit trail. */
  let secretsSeen: string[] = [];
  let logsBefore = 0;
  let mailsBefore = 0;

  beforeAll(async () => {
    ({
      t,
      smtp,
      twilioPeer,
      clock,
      close: stopAll,
    } = await buildAppWithSenders(__filename, TWILIO_SID, { MFA_REQUIRED_ROLES: 'manager' }));
  });
  afterAll(() => stopAll());

  beforeEach(() => {
    secretsSeen = [PASSWORD];
    logsBefore = t.logs.lines.length;
    mailsBefore = smtp.messages.length;
  });
  // Checked after every test, on what that test saw: a failure here fails the test.
  afterEach(async () => {
    t.logger.flush();
    const logs = t.logs.lines.slice(logsBefore).join('\n');
    expect(logs.length).toBeGreaterThan(0);
    const audit = JSON.stringify(await auditEvents(t).find().toArray());
    const mailedCodes = smtp.messages
      .slice(mailsBefore)
      .flatMap((m) => /code is (\d{6})/.exec(m.raw.replace(/=\r?\n/g, ''))?.[1] ?? []);
    expect({
      inLogs: secretsSeen.filter((x) => logs.includes(x)),
      inAudit: secretsSeen.filter((x) => audit.includes(x)),
      mailedCodesInLogs: mailedCodes.filter((c) => logs.includes(`code is ${c}`)),
    }).toEqual({ inLogs: [], inAudit: [], mailedCodesInLogs: [] });
  });

  const track = <T extends Record<string, unknown>>(body: T): T => {
    for (const k of ['accessToken', 'refreshToken', 'mfaToken', 'secret'])
      if (typeof body[k] === 'string') secretsSeen.push(body[k] as string);
    return body;
  };

  /** An address no other test of this file uses. */
  let seq = 0;
  const fresh = (name: string): string => `${name}-${++seq}@example.com`;

  /** A new user without 2FA; returns the address and id. */
  const plainUser = async (name = 'plain', role = 'user', department: string | null = null) => {
    const email = fresh(name);
    return { email, userId: await createUser(t, email, role, department) };
  };

  /** A new user enrolled in email 2FA through the real routes; its backup codes are tracked as secrets. */
  const emailUser = async (name: string, role = 'user', department: string | null = null) => {
    const email = fresh(name);
    const u = await userWithEmail2fa(t, smtp, email, role, department);
    secretsSeen.push(u.accessToken, ...u.backupCodes);
    return { email, ...u };
  };

  it('when a user without 2FA signs in, then an access and a refresh token come back and /me works', async () => {
    const { email, userId } = await plainUser();
    const res = await login(t, email.replace(/^p/, 'P').replace('example.com', 'Example.com'));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = track(res.body);
    expect(body).toMatchObject({ mfaRequired: false, tokenType: 'Bearer', expiresIn: 900 });
    const me = await request(t.app)
      .get('/api/v1/auth/me')
      .set(...bearer(body.accessToken));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email, role: 'user', sessionMfa: false });
    expect(await auditCount(t, { action: 'auth.login', outcome: 'succeeded', actorId: userId })).toBe(1);
  });

  it('when the password is wrong or the user unknown, then the same 401 problem comes back', async () => {
    const { email, userId } = await plainUser();
    const wrong = await login(t, email, 'not-the-password-at-all');
    const unknown = await login(t, fresh('nobody'), 'not-the-password-at-all');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
    expect(strip(wrong.body)).toEqual(strip(unknown.body));
    expect(await auditCount(t, { action: 'auth.login', outcome: 'failed', actorId: userId })).toBe(1);
  });

  it('when login carries an operator object, then 400 and no login', async () => {
    const res = await request(t.app)
      .post('/api/v1/auth/login')
      .send({ email: { $gt: '' }, password: PASSWORD });
    expect(res.status).toBe(400);
    expect(res.body.accessToken).toBeUndefined();
    const res2 = await request(t.app)
      .post('/api/v1/auth/login')
      .send({ email: (await plainUser()).email, password: { $ne: null } });
    expect(res2.status).toBe(400);
  });

  it('when tokens are forged (alg none, wrong key, wrong audience, expired), then 401', async () => {
    const good = track((await login(t, (await plainUser()).email)).body);
    const claims = jwt.decode(good.accessToken) as Record<string, unknown>;
    if (t.config.jwt.algorithm !== 'HS256') throw new Error('expected HS256');
    const secret = t.config.jwt.secret.reveal();
    const none = jwt.sign({ ...claims }, '', { algorithm: 'none' });
    const wrongKey = jwt.sign({ ...claims }, 'another-secret-of-enough-length-0123456789', { algorithm: 'HS256' });
    const wrongAud = jwt.sign({ ...claims, aud: 'someone-else' }, secret, { algorithm: 'HS256' });
    const expired = jwt.sign({ ...claims, iat: 1_000_000, exp: 1_000_900 }, secret, { algorithm: 'HS256' });
    const mfaAsAccess = jwt.sign({ ...claims, typ: 'mfa' }, secret, { algorithm: 'HS256' });
    for (const token of [none, wrongKey, wrongAud, expired, mfaAsAccess, 'not.a.jwt']) {
      const res = await request(t.app).get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
    }
  });

  it('when a refresh token is used, then it rotates; when a spent one is replayed, then the whole session ends', async () => {
    const { email, userId } = await plainUser();
    const first = track((await login(t, email)).body);
    const second = track(
      (await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: first.refreshToken })).body,
    );
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const third = track(
      (await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: second.refreshToken })).body,
    );
    expect(third.accessToken).toBeDefined();
    const replay = await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: first.refreshToken });
    expect(replay.status).toBe(401);
    expect(replay.body.type).toMatch(/refresh-token-reused/);
    expect((await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: third.refreshToken })).status).toBe(
      401,
    );
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(third.accessToken))
      ).status,
    ).toBe(401);
    expect(
      await auditCount(t, { action: 'auth.refresh.reuse-detected', outcome: 'denied', actorId: userId }),
    ).toBeGreaterThan(0);
  });

  it('when one refresh token is presented several times at once, then at most one rotation wins and the session ends as reuse', async () => {
    const s = track((await login(t, (await plainUser()).email)).body);
    const results = await Promise.all(
      [0, 1, 2].map(() => request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: s.refreshToken })),
    );
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeLessThanOrEqual(1);
    expect(results.some((r) => r.status === 401)).toBe(true);
    // Whatever won, the family is dead once reuse was seen: the newest refresh token no longer works.
    for (const r of ok)
      expect(
        (
          await request(t.app)
            .post('/api/v1/auth/refresh')
            .send({ refreshToken: track(r.body).refreshToken })
        ).status,
      ).toBe(401);
  });

  it('when a user logs out, then the access token stops working at once', async () => {
    const { email, userId } = await plainUser();
    const s = track((await login(t, email)).body);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/logout')
          .set(...bearer(s.accessToken))
      ).status,
    ).toBe(204);
    const after = await request(t.app)
      .get('/api/v1/auth/me')
      .set(...bearer(s.accessToken));
    expect(after.status).toBe(401);
    expect(after.body.type).toMatch(/session-revoked/);
    expect(await auditCount(t, { action: 'auth.logout', outcome: 'succeeded', actorId: userId })).toBe(1);
  });

  it('when a user logs out everywhere, then every session ends: access tokens refused at once, refresh tokens dead', async () => {
    const { email, userId } = await plainUser('everywhere');
    const sessions = [
      track((await login(t, email)).body),
      track((await login(t, email)).body),
      track((await login(t, email)).body),
    ];
    for (const s of sessions)
      expect(
        (
          await request(t.app)
            .get('/api/v1/auth/me')
            .set(...bearer(s.accessToken))
        ).status,
      ).toBe(200);
    const out = await request(t.app)
      .post('/api/v1/auth/logout-all')
      .set(...bearer(sessions[0].accessToken));
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ sessionsEnded: 3 });
    for (const s of sessions) {
      expect(
        (
          await request(t.app)
            .get('/api/v1/auth/me')
            .set(...bearer(s.accessToken))
        ).status,
      ).toBe(401);
      expect((await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: s.refreshToken })).status).toBe(
        401,
      );
    }
    expect(await auditCount(t, { action: 'auth.logout-all', actorId: userId })).toBe(1);
  });

  it('when the password is changed, then other sessions end and the current one survives', async () => {
    const { email, userId } = await plainUser('changer');
    const a = track((await login(t, email)).body);
    const b = track((await login(t, email)).body);
    const weak = await request(t.app)
      .post('/api/v1/auth/password')
      .set(...bearer(a.accessToken))
      .send({ currentPassword: PASSWORD, newPassword: 'password1234' });
    expect(weak.status).toBe(400);
    expect(weak.body.detail).toMatch(/commonly used/);
    const ok = await request(t.app)
      .post('/api/v1/auth/password')
      .set(...bearer(a.accessToken))
      .send({ currentPassword: PASSWORD, newPassword: 'violet-lantern-breeze-2026' });
    expect(ok.status).toBe(204);
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(a.accessToken))
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(b.accessToken))
      ).status,
    ).toBe(401);
    secretsSeen.push('violet-lantern-breeze-2026');
    expect(track((await login(t, email, 'violet-lantern-breeze-2026')).body).accessToken).toEqual(expect.any(String));
    expect(await auditCount(t, { action: 'auth.password.changed', outcome: 'succeeded', actorId: userId })).toBe(1);
  });

  describe('TOTP with a real authenticator implementation (oathtool)', () => {
    /** What an authenticator app shows at `at` (oathtool, RFC 6238 defaults: SHA-1, 6 digits, 30 s). */
    const oathtool = (s: string, at: Date = clock.now()): string =>
      execFileSync('oathtool', ['--totp', '-b', s, '--now', `@${Math.floor(at.getTime() / 1000)}`], {
        encoding: 'utf8',
      }).trim();
    const inSteps = (n: number): Date => new Date(clock.now().getTime() + n * 30_000);
    const verify = (mfaToken: string, code: string) =>
      request(t.app).post('/api/v1/auth/2fa/verify').send({ mfaToken, method: 'totp', code });

    /** A new user who enrolled TOTP with an oathtool code; the clock is then one step on, so that step is spent. */
    const totpUser = async () => {
      const { email, userId } = await plainUser('totp');
      const s = track((await login(t, email)).body);
      const setup = await request(t.app)
        .post('/api/v1/auth/2fa/totp/setup')
        .set(...bearer(s.accessToken))
        .send({ password: PASSWORD });
      expect(setup.status).toBe(200);
      const secret = track(setup.body).secret as string;
      const enable = await request(t.app)
        .post('/api/v1/auth/2fa/totp/enable')
        .set(...bearer(s.accessToken))
        .send({ code: oathtool(secret) });
      expect(enable.status).toBe(200);
      secretsSeen.push(...(enable.body.backupCodes as string[]));
      clock.advance(30_000);
      return { email, userId, secret };
    };

    it('when setting up, then the QR code decodes to the otpauth URI, and a code from oathtool enables it', async () => {
      const { email, userId } = await plainUser('totp');
      const s = track((await login(t, email)).body);
      const setup = await request(t.app)
        .post('/api/v1/auth/2fa/totp/setup')
        .set(...bearer(s.accessToken))
        .send({ password: PASSWORD });
      expect(setup.status).toBe(200);
      const secret = track(setup.body).secret as string;
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(setup.body.otpauthUrl).toMatch(
        new RegExp(
          `^otpauth://totp/ERP(:|%3A)${email.replace('@', '(@|%40)').replace(/\./g, '\\.')}\\?secret=${secret}.*issuer=ERP`,
        ),
      );
      const png = PNG.sync.read(
        Buffer.from(setup.body.qrCodeDataUrl.replace(/^data:image\/png;base64,/, ''), 'base64'),
      );
      expect(jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data).toBe(setup.body.otpauthUrl);
      const raw = await t.container.database.db().collection('users').findOne({ emailLower: email });
      expect(JSON.stringify(raw)).not.toContain(secret);

      const wrong = await request(t.app)
        .post('/api/v1/auth/2fa/totp/enable')
        .set(...bearer(s.accessToken))
        .send({ code: oathtool(secret, inSteps(-3)) });
      expect(wrong.status).toBe(400);
      const enable = await request(t.app)
        .post('/api/v1/auth/2fa/totp/enable')
        .set(...bearer(s.accessToken))
        .send({ code: oathtool(secret) });
      expect(enable.status).toBe(200);
      expect(enable.body.backupCodes).toHaveLength(10);
      secretsSeen.push(...(enable.body.backupCodes as string[]));
      expect(await auditCount(t, { action: 'mfa.totp.enabled', outcome: 'succeeded', actorId: userId })).toBe(1);
    });

    it('when signing in, then the password step returns an mfaToken that is no access token, and an oathtool code is accepted once', async () => {
      const { email, userId, secret } = await totpUser();
      const step1 = track((await login(t, email)).body);
      expect(step1).toMatchObject({ mfaRequired: true, methods: expect.arrayContaining(['totp', 'backup']) });
      expect(step1.accessToken).toBeUndefined();
      expect(
        (
          await request(t.app)
            .get('/api/v1/auth/me')
            .set(...bearer(step1.mfaToken))
        ).status,
      ).toBe(401);
      const code = oathtool(secret);
      const ok = await verify(step1.mfaToken, code);
      expect(ok.status).toBe(200);
      const session = track(ok.body);
      const me = await request(t.app)
        .get('/api/v1/auth/me')
        .set(...bearer(session.accessToken));
      expect(me.body).toMatchObject({ sessionMfa: true, mfaMethods: ['totp'] });

      const again = track((await login(t, email)).body);
      const replay = await verify(again.mfaToken, code);
      expect(replay.status).toBe(401);
      expect(await auditCount(t, { action: 'mfa.totp.replay', outcome: 'denied', actorId: userId })).toBe(1);
      expect(t.logs.text).toContain('replayed TOTP code refused');
    });

    it('when the mfaToken has been answered once, then it cannot open a second session', async () => {
      const { email, secret } = await totpUser();
      const step1 = track((await login(t, email)).body);
      expect((await verify(step1.mfaToken, oathtool(secret))).status).toBe(200);
      clock.advance(30_000);
      const second = await verify(step1.mfaToken, oathtool(secret));
      expect(second.status).toBe(401);
      expect(second.body.type).toMatch(/invalid-token/);
    });

    it('when the phone clock is one step off, then the code is accepted; two steps off, refused', async () => {
      // Exact step distances: the clock stands still while codes are computed and checked.
      clock.freeze();
      try {
        const { email, secret } = await totpUser();
        clock.advance(60_000);
        const behind = track((await login(t, email)).body);
        expect((await verify(behind.mfaToken, oathtool(secret, inSteps(-1)))).status).toBe(200);
        clock.advance(90_000);
        const ahead = track((await login(t, email)).body);
        expect((await verify(ahead.mfaToken, oathtool(secret, inSteps(1)))).status).toBe(200);
        clock.advance(120_000);
        const farBehind = track((await login(t, email)).body);
        expect((await verify(farBehind.mfaToken, oathtool(secret, inSteps(-2)))).status).toBe(401);
        expect((await verify(farBehind.mfaToken, oathtool(secret, inSteps(2)))).status).toBe(401);
        expect((await verify(farBehind.mfaToken, oathtool(secret))).status).toBe(200);
      } finally {
        clock.thaw();
      }
    });

    it('when the same fresh code is sent twice at once, then exactly one sign-in succeeds', async () => {
      const { email, secret } = await totpUser();
      const [a, b] = [track((await login(t, email)).body), track((await login(t, email)).body)];
      const code = oathtool(secret);
      const results = await Promise.all([verify(a.mfaToken, code), verify(b.mfaToken, code)]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    });

    it('when TOTP codes are guessed, then the factor locks after 5 tries until a fresh password login', async () => {
      const { email, userId } = await totpUser();
      const step1 = track((await login(t, email)).body);
      for (let i = 0; i < 5; i++) {
        expect(
          (
            await request(t.app)
              .post('/api/v1/auth/2fa/verify')
              .send({ mfaToken: step1.mfaToken, method: 'totp', code: String(100000 + i) })
          ).status,
        ).toBe(401);
      }
      const locked = await request(t.app)
        .post('/api/v1/auth/2fa/verify')
        .send({ mfaToken: step1.mfaToken, method: 'totp', code: '000000' });
      expect(locked.status).toBe(403);
      expect(locked.body.type).toMatch(/factor-locked/);
      const again = track((await login(t, email)).body);
      const tryAgain = await request(t.app)
        .post('/api/v1/auth/2fa/verify')
        .send({ mfaToken: again.mfaToken, method: 'totp', code: '000001' });
      expect(tryAgain.status).toBe(401);
      expect(await auditCount(t, { action: 'auth.mfa', outcome: 'failed', actorId: userId })).toBeGreaterThan(0);
      expect(await auditCount(t, { action: 'auth.mfa.locked', outcome: 'failed', actorId: userId })).toBe(1);
    });

    it('when an account reaches 100 consecutive second-factor failures, then it is locked for every factor and the lock is audited', async () => {
      const { email, userId } = await totpUser();
      await t.container.models.User.updateOne({ _id: userId }, { $set: { secondFactorFailures: 99 } });
      const st = track((await login(t, email)).body);
      expect(
        (
          await request(t.app)
            .post('/api/v1/auth/2fa/verify')
            .send({ mfaToken: st.mfaToken, method: 'totp', code: '123123' })
        ).status,
      ).toBe(401);
      expect(await auditCount(t, { action: 'auth.mfa.account-locked', outcome: 'denied', actorId: userId })).toBe(1);
      expect(t.logs.text).toContain('account-second-factor-cap');
      const next = track((await login(t, email)).body);
      const locked = await request(t.app)
        .post('/api/v1/auth/2fa/verify')
        .send({ mfaToken: next.mfaToken, method: 'backup', code: 'AAAAA-AAAAA' });
      expect(locked.status).toBe(403);
      expect(locked.body.type).toMatch(/account-locked/);
    });
  });

  it('when password guessing hammers an account from one address, then the real user still signs in from theirs', async () => {
    const { email, userId } = await plainUser('victim');
    let throttled = 0;
    for (let i = 0; i < 12; i++) {
      const res = await login(t, email, `guess-number-${i}-xx`, '203.0.113.7');
      expect([401, 429]).toContain(res.status);
      if (res.status === 429) {
        throttled++;
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
    }
    expect(throttled).toBeGreaterThan(0);
    expect(await auditCount(t, { action: 'auth.login.throttled', outcome: 'denied', actorId: userId })).toBe(1);
    const real = await login(t, email, PASSWORD, '198.51.100.20');
    expect(real.status).toBe(200);
    expect(track(real.body).accessToken).toBeDefined();
  });

  it('when SMS is enrolled and used, then the real twilio client posts to the Messages API and the code signs in', async () => {
    const { email, userId } = await plainUser('sms');
    const s = track((await login(t, email)).body);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/sms/setup')
          .set(...bearer(s.accessToken))
          .send({ password: PASSWORD, phone: '+4915112345678' })
      ).status,
    ).toBe(202);
    const req = twilioPeer.requests[twilioPeer.requests.length - 1];
    expect(req.path).toBe(`/2010-04-01/Accounts/${TWILIO_SID}/Messages.json`);
    expect(req.authorization).toBe('Basic ' + Buffer.from(`${TWILIO_SID}:twilio-auth-token-value`).toString('base64'));
    expect(req.form.get('From')).toBe('+15005550006');
    const enable = await request(t.app)
      .post('/api/v1/auth/2fa/sms/enable')
      .set(...bearer(s.accessToken))
      .send({ code: lastSmsCode(twilioPeer.requests, '+4915112345678') });
    expect(enable.status).toBe(200);
    const raw = await t.container.database.db().collection('users').findOne({ emailLower: email });
    expect(JSON.stringify(raw)).not.toContain('4915112345678');
    expect(await auditCount(t, { action: 'mfa.sms.enabled', outcome: 'succeeded', actorId: userId })).toBe(1);

    const step1 = track((await login(t, email)).body);
    expect(
      (await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: step1.mfaToken, method: 'sms' }))
        .status,
    ).toBe(202);
    const resend = await request(t.app)
      .post('/api/v1/auth/2fa/challenge')
      .send({ mfaToken: step1.mfaToken, method: 'sms' });
    expect(resend.status).toBe(429);
    const code = lastSmsCode(twilioPeer.requests, '+4915112345678');
    const ok = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: step1.mfaToken, method: 'sms', code });
    expect(ok.status).toBe(200);
    expect(track(ok.body).accessToken).toBeDefined();
    secretsSeen.push(code);
    const reuse = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: step1.mfaToken, method: 'sms', code });
    expect(reuse.status).toBe(401);
    expect(await auditCount(t, { action: 'mfa.sms.code-sent', 'details.purpose': 'login', actorId: userId })).toBe(1);
  });

  it('when Twilio fails, then the client gets a 502 problem, not a silent success', async () => {
    const s = track((await login(t, (await plainUser('smsfail')).email)).body);
    twilioPeer.failNext(1);
    const res = await request(t.app)
      .post('/api/v1/auth/2fa/sms/setup')
      .set(...bearer(s.accessToken))
      .send({ password: PASSWORD, phone: '+4915199999999' });
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    // Nothing was delivered, so an immediate retry is allowed; five parallel retries send one SMS.
    const before = twilioPeer.requests.length;
    const retries = await Promise.all(
      [0, 1, 2, 3, 4].map(() =>
        request(t.app)
          .post('/api/v1/auth/2fa/sms/setup')
          .set(...bearer(s.accessToken))
          .send({ password: PASSWORD, phone: '+4915199999999' }),
      ),
    );
    expect(retries.map((r) => r.status).sort()).toEqual([202, 429, 429, 429, 429]);
    expect(twilioPeer.requests.length - before).toBe(1);
  });

  it('when email is enrolled and used, then codes arrive at the SMTP server and sign in', async () => {
    const { email, userId, backupCodes } = await emailUser('mail');
    expect(await auditCount(t, { action: 'mfa.email.enabled', outcome: 'succeeded', actorId: userId })).toBe(1);

    const step1 = track((await login(t, email)).body);
    expect(
      (await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: step1.mfaToken, method: 'email' }))
        .status,
    ).toBe(202);
    const wrong = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: step1.mfaToken, method: 'email', code: '999999' });
    expect(wrong.status).toBe(401);
    const ok = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: step1.mfaToken, method: 'email', code: lastCodeFor(smtp.messages, email) });
    expect(ok.status).toBe(200);
    track(ok.body);
    expect(await auditCount(t, { action: 'mfa.email.code-sent', 'details.purpose': 'login', actorId: userId })).toBe(1);

    // Backup codes: any order, once each, with a warning at 3 or fewer and a mail each time.
    const order = [7, 2, 9, 0, 4, 5, 1];
    let last: request.Response | undefined;
    for (const i of order) {
      const st = track((await login(t, email)).body);
      last = await request(t.app)
        .post('/api/v1/auth/2fa/verify')
        .send({ mfaToken: st.mfaToken, method: 'backup', code: backupCodes[i] });
      expect(last.status).toBe(200);
    }
    expect(last!.body.backupCodesRemaining).toBe(3);
    expect(last!.body.warning).toMatch(/3 backup codes/);
    expect(await auditCount(t, { action: 'mfa.backup-code.used', outcome: 'succeeded', actorId: userId })).toBe(
      order.length,
    );
    const st = track((await login(t, email)).body);
    const reused = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: st.mfaToken, method: 'backup', code: backupCodes[7] });
    expect(reused.status).toBe(401);
    const notices = smtp.messages.filter((m) => m.to.includes(email) && m.raw.includes('backup code was used'));
    expect(notices).toHaveLength(order.length);
    expect(notices[notices.length - 1].raw.replace(/=\r?\n/g, '')).toMatch(/Only 3 backup codes/);

    // One backup code sent five times at once: exactly one sign-in.
    const tokens: string[] = [];
    for (let i = 0; i < 5; i++) tokens.push(track((await login(t, email)).body).mfaToken as string);
    const race = await Promise.all(
      tokens.map((mfaToken) =>
        request(t.app).post('/api/v1/auth/2fa/verify').send({ mfaToken, method: 'backup', code: backupCodes[3] }),
      ),
    );
    expect(race.filter((r) => r.status === 200)).toHaveLength(1);

    // One emailed code sent five times at once: exactly one sign-in.
    const st2 = track((await login(t, email)).body);
    clock.advance(61_000);
    expect(
      (await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: st2.mfaToken, method: 'email' }))
        .status,
    ).toBe(202);
    const emailed = lastCodeFor(smtp.messages, email);
    // Signed in one after another: more than 3 password tries in flight at once from one
    // address are refused before their passwords are checked (the guard counts them first).
    const others: string[] = [];
    for (let i = 0; i < 4; i++) others.push(track((await login(t, email)).body).mfaToken as string);
    const race2 = await Promise.all(
      [st2.mfaToken, ...others].map((mfaToken) =>
        request(t.app).post('/api/v1/auth/2fa/verify').send({ mfaToken, method: 'email', code: emailed }),
      ),
    );
    expect(race2.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of [...race, ...race2]) track(r.body);
  });

  it('when wrong emailed codes are guessed in parallel across many logins, then the code gets exactly 5 tries in all', async () => {
    const { email, userId } = await emailUser('guessed');
    clock.advance(61_000);
    const first = track((await login(t, email)).body);
    expect(
      (await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: first.mfaToken, method: 'email' }))
        .status,
    ).toBe(202);
    const code = lastCodeFor(smtp.messages, email);
    const wrong = code === '000000' ? '000001' : '000000';
    // 8 logins x 5 guesses: each login's own limit lets all 40 through; the code must not.
    const logins: string[] = [];
    for (let i = 0; i < 8; i++) logins.push(track((await login(t, email)).body).mfaToken as string);
    const guesses = await Promise.all(
      logins.flatMap((mfaToken) =>
        Array.from({ length: 5 }, () =>
          request(t.app).post('/api/v1/auth/2fa/verify').send({ mfaToken, method: 'email', code: wrong }),
        ),
      ),
    );
    // Listed, so a failure shows which statuses came back instead of `false`.
    expect(guesses.map((r) => r.status)).toEqual(guesses.map(() => 401));
    const late = track((await login(t, email)).body);
    const right = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: late.mfaToken, method: 'email', code });
    expect(right.status).toBe(401);
    const tries = await t.container.database
      .db()
      .collection('single_use_claims')
      .countDocuments({ _id: { $regex: `^otp-try:${userId}:login:email:` } as never });
    expect(tries).toBe(5);
  }, 120_000);

  it('when an emailed code is older than 10 minutes, then it is refused; when mail delivery fails, then 502 and that code never works', async () => {
    const { email, userId: slowId } = await emailUser('slow');

    clock.advance(61_000);
    const late = track((await login(t, email)).body);
    expect(
      (await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: late.mfaToken, method: 'email' }))
        .status,
    ).toBe(202);
    const code = lastCodeFor(smtp.messages, email);
    clock.advance(10 * 60_000 + 1_000);
    const again = track((await login(t, email)).body);
    const expired = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: again.mfaToken, method: 'email', code });
    expect(expired.status).toBe(401);
    expect(expired.body.type).toMatch(/invalid-code/);

    const mailsBefore = smtp.messages.length;
    smtp.failNext(1);
    const failed = await request(t.app)
      .post('/api/v1/auth/2fa/challenge')
      .send({ mfaToken: again.mfaToken, method: 'email' });
    expect(failed.status).toBe(502);
    expect(failed.headers['content-type']).toMatch(/problem\+json/);
    expect(smtp.messages.length).toBe(mailsBefore);
    expect(
      await t.container.database
        .db()
        .collection('otp_challenges')
        .countDocuments({ _id: `${slowId}:login:email` as never }),
    ).toBe(0);
    // Delivery failed, so the user may ask again at once, and that code works.
    expect(
      (await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: again.mfaToken, method: 'email' }))
        .status,
    ).toBe(202);
    const ok = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: again.mfaToken, method: 'email', code: lastCodeFor(smtp.messages, email) });
    expect(ok.status).toBe(200);
    track(ok.body);
  });

  it('when 2FA is mandatory for a role, then such a user can only reach enrollment until enrolled', async () => {
    const { email } = await plainUser('manager', 'manager', 'sales');
    const s = track((await login(t, email)).body);
    expect(s.enrollmentRequired).toBe(true);
    const blocked = await request(t.app)
      .get('/api/v1/api-keys')
      .set(...bearer(s.accessToken));
    expect(blocked.status).toBe(403);
    expect(blocked.body.type).toMatch(/mfa-enrollment-required/);
    secretsSeen.push(...(await enrollEmail2fa(t, smtp, email, s.accessToken)));
    const refreshed = track(
      (await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: s.refreshToken })).body,
    );
    expect(refreshed.enrollmentRequired).toBe(false);
    expect(
      (
        await request(t.app)
          .get('/api/v1/api-keys')
          .set(...bearer(refreshed.accessToken))
      ).status,
    ).toBe(200);
  });

  it('when disabling 2FA, then the password and a current code are both required', async () => {
    const { email, userId, accessToken } = await emailUser('disabler');
    const s = { accessToken };
    const noCode = await request(t.app)
      .post('/api/v1/auth/2fa/disable')
      .set(...bearer(s.accessToken))
      .send({ password: PASSWORD, method: 'email', code: '123456' });
    expect(noCode.status).toBe(403);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/code')
          .set(...bearer(s.accessToken))
          .send({ method: 'email' })
      ).status,
    ).toBe(202);
    const code = lastCodeFor(smtp.messages, email);
    const wrongPw = await request(t.app)
      .post('/api/v1/auth/2fa/disable')
      .set(...bearer(s.accessToken))
      .send({ password: 'wrong-password-123', method: 'email', code });
    expect(wrongPw.status).toBe(403);
    secretsSeen.push('wrong-password-123');
    expect(await auditCount(t, { action: 'mfa.disable', outcome: 'failed', actorId: userId })).toBeGreaterThan(0);
    // The wrong-password attempt did not consume the code: it still works with the right password.
    const ok = await request(t.app)
      .post('/api/v1/auth/2fa/disable')
      .set(...bearer(s.accessToken))
      .send({ password: PASSWORD, method: 'email', code });
    expect(ok.status).toBe(204);
    expect(await auditCount(t, { action: 'mfa.disabled', outcome: 'succeeded', actorId: userId })).toBe(1);
    expect(track((await login(t, email)).body).mfaRequired).toBe(false);
  });

  it('when a factor is added or backup codes are replaced, then the password is required again, and a login code does not pass for a step-up', async () => {
    const { email, userId } = await plainUser('reauth');
    const s = track((await login(t, email)).body);
    const setup = (body: object) =>
      request(t.app)
        .post('/api/v1/auth/2fa/totp/setup')
        .set(...bearer(s.accessToken))
        .send(body);
    expect((await setup({})).status).toBe(400);
    const wrong = await setup({ password: 'not-the-password-at-all' });
    expect(wrong.status).toBe(403);
    expect(await auditCount(t, { action: 'mfa.totp.setup', outcome: 'failed', actorId: userId })).toBe(1);
    expect((await t.container.models.User.findById(userId).lean())!.mfa.totpSecret).toBeNull();
    const ok = await setup({ password: PASSWORD });
    expect(ok.status).toBe(200);
    track(ok.body);

    // Backup codes: a 2FA session and the password; a new set voids the old one.
    const oldCodes = await enrollEmail2fa(t, smtp, email, s.accessToken);
    const mfa = await mfaSession(t, userId);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/backup-codes')
          .set(...bearer(mfa))
          .send({ password: 'not-the-password-at-all' })
      ).status,
    ).toBe(403);
    const fresh = await request(t.app)
      .post('/api/v1/auth/2fa/backup-codes')
      .set(...bearer(mfa))
      .send({ password: PASSWORD });
    expect(fresh.status).toBe(200);
    const newCodes: string[] = fresh.body.backupCodes;
    secretsSeen.push(mfa, ...oldCodes, ...newCodes);
    expect(await auditCount(t, { action: 'mfa.backup-codes.regenerated', outcome: 'succeeded', actorId: userId })).toBe(
      1,
    );
    expect(newCodes).toHaveLength(10);
    expect(newCodes.filter((c) => oldCodes.includes(c))).toEqual([]);
    const raw = JSON.stringify(
      await t.container.database
        .db()
        .collection('users')
        .findOne({ _id: userId as never }),
    );
    for (const c of newCodes) expect(raw).not.toContain(c);
    const stale = track((await login(t, email)).body);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/verify')
          .send({ mfaToken: stale.mfaToken, method: 'backup', code: oldCodes[0] })
      ).status,
    ).toBe(401);
    const current = await request(t.app)
      .post('/api/v1/auth/2fa/verify')
      .send({ mfaToken: stale.mfaToken, method: 'backup', code: newCodes[0] });
    expect(current.status).toBe(200);
    track(current.body);

    // A code sent for signing in cannot confirm turning 2FA off (and the reverse).
    clock.advance(61_000);
    const signingIn = track((await login(t, email)).body);
    expect(
      (await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: signingIn.mfaToken, method: 'email' }))
        .status,
    ).toBe(202);
    const loginCode = lastCodeFor(smtp.messages, email);
    const disable = await request(t.app)
      .post('/api/v1/auth/2fa/disable')
      .set(...bearer(current.body.accessToken))
      .send({ password: PASSWORD, method: 'email', code: loginCode });
    expect(disable.status).toBe(403);
  });

  it("when an admin resets a user's 2FA, then it needs the admin's own 2FA session, is audited, mailed, and forces re-enrollment", async () => {
    const { email, userId } = await emailUser('resetme');

    const { email: adminEmail } = await plainUser('admin', 'admin');
    const noMfa = track((await login(t, adminEmail)).body);
    const refused = await request(t.app)
      .post(`/api/v1/users/${userId}/2fa/reset`)
      .set(...bearer(noMfa.accessToken));
    expect(refused.status).toBe(403);

    secretsSeen.push(...(await enrollEmail2fa(t, smtp, adminEmail, noMfa.accessToken)));
    const step1 = track((await login(t, adminEmail)).body);
    expect(
      (await request(t.app).post('/api/v1/auth/2fa/challenge').send({ mfaToken: step1.mfaToken, method: 'email' }))
        .status,
    ).toBe(202);
    const admin = track(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/verify')
          .send({ mfaToken: step1.mfaToken, method: 'email', code: lastCodeFor(smtp.messages, adminEmail) })
      ).body,
    );
    const reset = await request(t.app)
      .post(`/api/v1/users/${userId}/2fa/reset`)
      .set(...bearer(admin.accessToken));
    expect(reset.status).toBe(204);
    expect(smtp.messages.some((m) => m.to.includes(email) && m.raw.includes('was reset'))).toBe(true);
    expect(await auditCount(t, { action: 'mfa.reset-by-admin', outcome: 'succeeded', resourceId: userId })).toBe(1);
    const after = track((await login(t, email)).body);
    expect(after).toMatchObject({ mfaRequired: false, enrollmentRequired: true });
    expect(
      (
        await request(t.app)
          .get('/api/v1/api-keys')
          .set(...bearer(after.accessToken))
      ).status,
    ).toBe(403);
  });

  it('when requests fail, then the error bodies echo no password, code or token', async () => {
    const { email } = await plainUser('echo');
    const bodies: string[] = [];
    const wrongPassword = 'Wrong-Password-Echo-0042';
    bodies.push(JSON.stringify((await login(t, email, wrongPassword)).body));
    const tooLong = 'x'.repeat(2000);
    bodies.push(
      JSON.stringify((await request(t.app).post('/api/v1/auth/login').send({ email, password: tooLong })).body),
    );
    const good = track((await login(t, email)).body);
    bodies.push(
      JSON.stringify(
        (
          await request(t.app)
            .post('/api/v1/auth/refresh')
            .send({ refreshToken: good.refreshToken + 'x' })
        ).body,
      ),
    );
    const badJwt = good.accessToken.slice(0, -3) + 'abc';
    bodies.push(
      JSON.stringify((await request(t.app).get('/api/v1/auth/me').set('Authorization', `Bearer ${badJwt}`)).body),
    );
    bodies.push(
      JSON.stringify(
        (
          await request(t.app)
            .post('/api/v1/auth/2fa/verify')
            .send({ mfaToken: good.accessToken, method: 'totp', code: '482913' })
        ).body,
      ),
    );
    bodies.push(
      JSON.stringify(
        (
          await request(t.app)
            .post('/api/v1/auth/2fa/verify')
            .send({ mfaToken: good.accessToken, method: 'totp', code: '4829-13-not-a-code-7731' })
        ).body,
      ),
    );
    const text = bodies.join('\n');
    for (const secret of [
      wrongPassword,
      tooLong,
      good.refreshToken,
      badJwt,
      good.accessToken,
      '482913',
      '4829-13-not-a-code-7731',
    ])
      expect(text).not.toContain(secret);
    for (const b of bodies) expect(JSON.parse(b)).toHaveProperty('status');
    secretsSeen.push(wrongPassword, badJwt, '4829-13-not-a-code-7731');
  });

  it('when sessions and one-time codes are past their lifetime, then the retention job deletes them', async () => {
    // A session and a pending one-time code of this test's own; every older one is past its lifetime too.
    const { email } = await plainUser('retention');
    const s = track((await login(t, email)).body);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/2fa/email/setup')
          .set(...bearer(s.accessToken))
          .send({ password: PASSWORD })
      ).status,
    ).toBe(202);
    const db = t.container.database.db();
    const sessions = await db.collection('sessions').countDocuments();
    expect(sessions).toBeGreaterThan(0);
    clock.advance((t.config.auth.refreshTtlDays + 1) * 86_400_000);
    const purged = await t.container.deps.identity.auth.purgeExpired();
    expect(purged.sessions).toBe(sessions);
    expect(purged.challenges).toBeGreaterThan(0);
    expect(await db.collection('sessions').countDocuments()).toBe(0);
    expect(await db.collection('otp_challenges').countDocuments({ expiresAt: { $lte: clock.now() } })).toBe(0);
  });
});
