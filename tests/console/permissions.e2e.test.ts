import request from 'supertest';
import { TestClock, type TestApp } from '../support/app';
import type { WatchedPage } from '../support/browser';
import { enrollAuthenticatorApp, startConsoleRig, type ConsoleRig } from '../support/console-rig';
import { oathtool } from '../support/two-factor';
import { createUser } from '../support/users';

const EMPLOYEE = 'employee@console-permissions.example';
const ADMIN = 'admin@console-permissions.example';

/**
 * Panel visibility from the session's effective permissions, and a failing service shown
 * without console errors, in headless Chromium against the real app on FerretDB and Redis.
 * The health verdict fails on purpose (disk use above 1 %): GET /health answers 503, which a
 * browser would log as an error; the console reads the 200 report endpoint instead.
 */
describe('console panels by permission, with a failing health verdict (headless Chromium)', () => {
  let rig: ConsoleRig;
  let t: TestApp;
  let w: WatchedPage;
  let secret: string;
  const clock = new TestClock();
  const requested: string[] = [];

  beforeAll(async () => {
    rig = await startConsoleRig(__filename, { env: { HEALTH_DISK_PERCENT: '0/1' }, container: { now: clock.now } });
    ({ t, w } = rig);
    await createUser(t, EMPLOYEE, 'user');
    await createUser(t, ADMIN, 'admin', 'it');
    secret = await enrollAuthenticatorApp(t, ADMIN, clock);
    w.page.on('request', (r) => requested.push(`${r.method()} ${new URL(r.url()).pathname}`));
  }, 180_000);

  afterAll(async () => {
    await rig?.close();
  });

  const page = () => w.page;
  const typeInto = (selector: string, text: string) => rig.typeInto(selector, text);
  const passwordStep = (email: string) => rig.passwordStep(email);

  const tabs = () => page().$$eval('nav button.tab', (b) => b.map((x) => x.textContent));

  it('when a role without backup:read signs in, then no backups panel is shown, nothing is probed and the browser logs no error', async () => {
    const res = await page().goto(`${rig.base}/console`, { waitUntil: 'networkidle0' });
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
