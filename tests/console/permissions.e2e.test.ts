import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { Browser } from 'puppeteer-core';
import request from 'supertest';
import { freePort } from '../../scripts/local-services';
import { buildConsole } from '../../scripts/build-console';
import { buildTestApp, ROUTE_TEST_ENV, TestClock, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { launchBrowser, WatchedPage } from '../support/browser';
import { oathtool } from '../support/two-factor';
import { bearer, createUser, login, PASSWORD } from '../support/users';

const EMPLOYEE = 'employee@console-permissions.example';
const ADMIN = 'admin@console-permissions.example';

/**
 * Panel visibility from the session's effective permissions, and a failing service shown
 * without console errors, in headless Chromium against the real app on FerretDB and Redis.
 * The health verdict fails on purpose (disk use above 1 %): GET /health answers 503, which a
 * browser would log as an error; the console reads the 200 report endpoint instead.
 */
describe('console panels by permission, with a failing health verdict (headless Chromium)', () => {
  let t: TestApp;
  let server: Server;
  let browser: Browser;
  let w: WatchedPage;
  let base: string;
  let buildDir: string;
  let secret: string;
  const clock = new TestClock();
  const requested: string[] = [];

  beforeAll(async () => {
    buildDir = tempDir('console-permissions-build');
    await buildConsole(buildDir);
    t = await buildTestApp(
      __filename,
      { ...ROUTE_TEST_ENV, CONSOLE_DIR: buildDir, BACKUP_ENABLED: 'false', HEALTH_DISK_PERCENT: '0/1' },
      { now: clock.now },
    );
    await createUser(t, EMPLOYEE, 'user');
    await createUser(t, ADMIN, 'admin', 'it');
    // The admin's authenticator app, enrolled through the real routes.
    const session = await login(t, ADMIN);
    const setup = await request(t.app)
      .post('/api/v1/auth/2fa/totp/setup')
      .set(...bearer(session.body.accessToken))
      .send({ password: PASSWORD });
    expect(setup.status).toBe(200);
    secret = setup.body.secret;
    const enabled = await request(t.app)
      .post('/api/v1/auth/2fa/totp/enable')
      .set(...bearer(session.body.accessToken))
      .send({ code: oathtool(secret, clock.now()) });
    expect(enabled.status).toBe(200);
    // The enabling code's 30-second step is spent: sign-in uses the next one.
    clock.advance(30_000);

    const port = await freePort();
    await new Promise<void>((resolve) => {
      server = t.app.listen(port, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${port}`;
    browser = await launchBrowser();
    w = await WatchedPage.open(browser);
    w.page.on('request', (r) => requested.push(`${r.method()} ${new URL(r.url()).pathname}`));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.container.deps.operations.alertStream.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await t?.close();
    await fs.rm(buildDir, { recursive: true, force: true });
  });

  const page = () => w.page;

  async function typeInto(selector: string, text: string): Promise<void> {
    await page().waitForSelector(selector, { visible: true });
    await page().click(selector, { count: 3 });
    await page().type(selector, text);
  }

  async function passwordStep(email: string): Promise<void> {
    await typeInto('#signin-password input[name=email]', email);
    await typeInto('#signin-password input[name=password]', PASSWORD);
    await page().keyboard.press('Enter');
  }

  const tabs = () => page().$$eval('nav button.tab', (b) => b.map((x) => x.textContent));

  it('when a role without backup:read signs in, then no backups panel is shown, nothing is probed and the browser logs no error', async () => {
    const res = await page().goto(`${base}/console`, { waitUntil: 'networkidle0' });
    expect(res?.status()).toBe(200);
    await passwordStep(EMPLOYEE);
    await w.waitForText('header.top', 'Role: user');
    await w.waitForText('.notice[role=status]', 'Your role may not see any panel');
    expect(await tabs()).toEqual([]);
    expect(await page().$('#panel [id^=backup]')).toBeNull();
    // Visibility came from the permissions, not from requests refused with 403.
    expect(requested).toContain('GET /api/v1/auth/permissions');
    expect(requested.filter((r) => /\/(health|alerts|admin\/backups|audit)\b/.test(r))).toEqual([]);
    w.expectClean();
  });

  it('when an admin signs in with 2FA while health fails, then every panel is shown, the failing check is visible and no 503 is logged', async () => {
    expect((await request(t.app).get('/health')).status).toBe(503);
    await page().click('#sign-out');
    await page().waitForSelector('#signin-password', { visible: true });
    await passwordStep(ADMIN);
    await typeInto('form[data-method=totp] input[name=code]', oathtool(secret, clock.now()));
    await page().keyboard.press('Enter');

    await w.waitForText('header.top', 'Role: admin (2FA)');
    expect(await tabs()).toEqual(['Health', 'Alerts', 'Backups', 'Audit trail']);
    await w.waitForText('#health-summary', 'fail');
    await w.waitForText('#health-checks tr[data-check="system:disk"]', 'fail');
    expect(await w.text('#health-checks tr[data-check="system:disk"]')).toMatch(/Advice:/);
    expect(requested).toContain('GET /api/v1/health/report');
    expect(requested).not.toContain('GET /health');
    w.expectClean();
  });
});
