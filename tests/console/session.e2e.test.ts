import type { HTTPResponse } from 'puppeteer-core';
import request from 'supertest';
import { TestClock, type TestApp } from '../support/app';
import type { WatchedPage } from '../support/browser';
import { enrollAuthenticatorApp, startConsoleRig, type ConsoleRig } from '../support/console-rig';
import { oathtool } from '../support/two-factor';
import { createUser } from '../support/users';
import { waitFor } from '../support/wait';

const EMAIL = 'session@console-session.example';

/**
 * The console's session in headless Chromium against the real app: the tokens live only in
 * the page's memory, the access token is refreshed before it expires (the shortest lifetime
 * config allows, 60 s, so the console refreshes every 5 s), and signing out ends the session
 * on the server, not only in the page.
 */
describe('console session handling (headless Chromium)', () => {
  let rig: ConsoleRig;
  let t: TestApp;
  let w: WatchedPage;
  let userId: string;
  let secret: string;
  const clock = new TestClock();
  /** Every refresh token the server handed this page, newest last. */
  const refreshTokens: string[] = [];
  const refreshes: number[] = [];

  beforeAll(async () => {
    rig = await startConsoleRig(__filename, {
      env: { JWT_ACCESS_TTL_SECONDS: '60' },
      container: { now: clock.now },
    });
    ({ t, w } = rig);
    userId = await createUser(t, EMAIL, 'admin', 'it');
    secret = await enrollAuthenticatorApp(t, EMAIL, clock);
    w.page.on('response', (r: HTTPResponse) => {
      const path = new URL(r.url()).pathname;
      if (r.request().method() !== 'POST' || !/\/auth\/(refresh|2fa\/verify)$/.test(path) || r.status() !== 200) return;
      if (path.endsWith('/refresh')) refreshes.push(Date.now());
      void r
        .json()
        .then((body: { refreshToken?: string }) => body.refreshToken && refreshTokens.push(body.refreshToken))
        .catch(() => undefined);
    });
  }, 180_000);

  afterAll(async () => {
    await rig?.close();
  });

  const page = () => w.page;

  it('when the operator signs in, then no token is kept in storage or cookies', async () => {
    await page().goto(`${rig.base}/console`, { waitUntil: 'networkidle0' });
    await rig.passwordStep(EMAIL);
    await rig.typeInto('form[data-method=totp] input[name=code]', oathtool(secret, clock.now()));
    await page().keyboard.press('Enter');
    await w.waitForText('header.top', 'Role: admin (2FA)');
    const kept = await page().evaluate(() => {
      const g = globalThis as unknown as {
        localStorage: { length: number };
        sessionStorage: { length: number };
        document: { cookie: string };
      };
      return { local: g.localStorage.length, session: g.sessionStorage.length, cookie: g.document.cookie };
    });
    expect(kept).toEqual({ local: 0, session: 0, cookie: '' });
    expect(await page().cookies()).toEqual([]);
    await waitFor(async () => refreshTokens.length > 0, 5_000, 'the sign-in response to be read');
    w.expectClean();
  });

  it('when the access token nears its end, then the console refreshes it in time and keeps working without a 401', async () => {
    const before = refreshes.length;
    await waitFor(async () => refreshes.length >= before + 2, 30_000, 'two refreshes of the access token');
    const statuses: number[] = [];
    const onResponse = (r: HTTPResponse) => {
      if (new URL(r.url()).pathname.startsWith('/api/')) statuses.push(r.status());
    };
    page().on('response', onResponse);
    try {
      await page().click('nav button[data-panel=alerts]');
      await w.waitForText('#alerts-live', 'Live');
      await page().click('nav button[data-panel=audit]');
      await page().waitForSelector('#audit-results[data-query]');
    } finally {
      page().off('response', onResponse);
    }
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 401)).toEqual([]);
    // Each refresh rotated the refresh token.
    expect(new Set(refreshTokens).size).toBe(refreshTokens.length);
    w.expectClean();
  });

  it('when the operator signs out, then the server ends that session and its refresh token is refused', async () => {
    const open = () => t.container.models.Session.countDocuments({ userId, revokedAt: null });
    const before = await open();
    expect(before).toBeGreaterThan(0);
    await rig.signOut();
    await waitFor(async () => (await open()) === before - 1, 10_000, 'the session to be revoked');
    const latest = refreshTokens[refreshTokens.length - 1];
    const refused = await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: latest });
    expect(refused.status).toBe(401);
    w.expectClean();
  });
});
