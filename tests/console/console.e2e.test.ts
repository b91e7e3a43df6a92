import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { freePort } from '../../scripts/local-services';
import { buildConsole } from '../../scripts/build-console';
import { buildTestApp, ROUTE_TEST_ENV, TestClock, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { launchBrowser, WatchedPage } from '../support/browser';
import { oathtool } from '../support/two-factor';
import { createUser, PASSWORD } from '../support/users';
import { waitFor } from '../support/wait';

const SCREENSHOTS = path.resolve(__dirname, '../../docs/console');
const QUARTER_HOUR = 15 * 60_000;

/**
 * A day of stored health samples (one per 15 minutes, as another instance would have
 * written them): the charts read them through GET /api/v1/health/history.
 */
async function seedHealthHistory(t: TestApp): Promise<void> {
  const now = Date.now();
  const samples = Array.from({ length: 96 }, (_, i) => {
    const wave = Math.sin(i / 8);
    return {
      _id: `console-e2e-${i}`,
      at: new Date(now - (96 - i) * QUARTER_HOUR),
      instance: 'db-host:1',
      status: 'pass',
      checks: [
        { key: 'mongodb:responseTime', value: 20 + 15 * wave + (i === 70 ? 140 : 0), unit: 'ms', status: 'pass' },
        { key: 'system:cpuLoad', value: 0.5 + 0.3 * wave, unit: 'load/core', status: 'pass' },
        { key: 'system:memory', value: 55 + 10 * wave, unit: 'percent', status: 'pass' },
      ],
    };
  });
  await t.container.database.db().collection<{ _id: string }>('health_samples').insertMany(samples);
}
const EMAIL = 'oncall@console-e2e.example';

/**
 * The acceptance run of the operations console: headless Chromium against the real app
 * (listening on a free port) on FerretDB and Redis. One operator's night: enroll an
 * authenticator, sign in with it, watch health, take an alert live, back up, check the trail.
 */
describe('operations console in headless Chromium', () => {
  let t: TestApp;
  let server: Server;
  let browser: Browser;
  let w: WatchedPage;
  let base: string;
  let buildDir: string;
  let backupDir: string;
  const clock = new TestClock();
  let secret: string;
  let scratchDb: string | undefined;

  beforeAll(async () => {
    buildDir = tempDir('console-build');
    backupDir = tempDir('console-backups');
    await buildConsole(buildDir);
    t = await buildTestApp(
      __filename,
      {
        ...ROUTE_TEST_ENV,
        CONSOLE_DIR: buildDir,
        BACKUP_ENABLED: 'false',
        BACKUP_DIR: backupDir,
        MFA_REQUIRED_ROLES: 'admin',
        // The test machine is shared and loaded: keep system checks from failing for reasons
        // outside this test, so the screenshots show a healthy service and no health alert
        // mixes with the one the test raises (a failing verdict no longer logs a console
        // error: see permissions.e2e.test.ts).
        HEALTH_CPU_LOAD_PER_CORE: '500/1000',
        HEALTH_EVENT_LOOP_DELAY_MS: '30000/60000',
        HEALTH_MEMORY_PERCENT: '99/100',
        HEALTH_DISK_PERCENT: '99/100',
        HEALTH_DB_LATENCY_MS: '30000/60000',
        HEALTH_REDIS_LATENCY_MS: '30000/60000',
      },
      { now: clock.now },
    );
    await createUser(t, EMAIL, 'admin', 'it');
    await seedHealthHistory(t);
    const port = await freePort();
    await new Promise<void>((resolve) => {
      server = t.app.listen(port, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${port}`;
    browser = await launchBrowser();
    w = await WatchedPage.open(browser);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.container.deps.operations.alertStream.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    if (scratchDb)
      await t?.container.database.connection
        .getClient()
        .db(scratchDb)
        .dropDatabase()
        .catch(() => undefined);
    await t?.close();
    await fs.rm(buildDir, { recursive: true, force: true });
    await fs.rm(backupDir, { recursive: true, force: true });
  });

  const page = () => w.page;

  async function expectAccessible(panel: string): Promise<void> {
    expect({ panel, violations: await w.axe('serious') }).toEqual({ panel, violations: [] });
  }

  async function typeInto(selector: string, text: string): Promise<void> {
    await page().waitForSelector(selector, { visible: true });
    await page().click(selector, { count: 3 });
    await page().type(selector, text);
  }

  it('when an admin without a second factor signs in, then the console enrolls an authenticator app with a QR code first', async () => {
    const res = await page().goto(`${base}/console`, { waitUntil: 'networkidle0' });
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await typeInto('#signin-password input[name=email]', EMAIL);
    await typeInto('#signin-password input[name=password]', PASSWORD);
    await w.screenshot(SCREENSHOTS, 'sign-in');
    await expectAccessible('sign-in');
    // Keyboard only: Enter submits the form.
    await page().keyboard.press('Enter');

    await typeInto('#enroll-password input[name=password]', PASSWORD);
    await page().keyboard.press('Enter');
    await page().waitForSelector('img.qr', { visible: true });
    const qr = await page().$eval('img.qr', (img) => img.getAttribute('src') ?? '');
    expect(qr).toMatch(/^data:image\/png;base64,/);
    secret = (await w.text('code.secret')).trim();
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    await w.screenshot(SCREENSHOTS, 'enroll');
    await expectAccessible('enrollment');

    await typeInto('#enroll-confirm input[name=code]', oathtool(secret, clock.now()));
    await page().keyboard.press('Enter');
    await page().waitForSelector('ul.codes li', { visible: true });
    await page().click('main button');
    await w.waitForText('header.top', 'Role: admin (2FA)');
    w.expectClean();
  });

  it('when the operator signs out and in again with a TOTP code computed by the test, then the health panel shows every check', async () => {
    await page().click('#sign-out');
    await page().waitForSelector('#signin-password', { visible: true });
    // The enabling code's 30-second step is spent: the authenticator shows the next one.
    clock.advance(30_000);
    await typeInto('#signin-password input[name=email]', EMAIL);
    await typeInto('#signin-password input[name=password]', PASSWORD);
    await page().keyboard.press('Enter');
    await typeInto('form[data-method=totp] input[name=code]', oathtool(secret, clock.now()));
    await page().keyboard.press('Enter');

    await w.waitForText('header.top', 'Role: admin (2FA)');
    await page().waitForSelector('#health-checks tr[data-check="mongodb:responseTime"]');
    const tabs = await page().$$eval('nav button.tab', (b) => b.map((x) => x.textContent));
    expect(tabs).toEqual(['Health', 'Alerts', 'Backups', 'Audit trail']);
    const mongo = await w.text('#health-checks tr[data-check="mongodb:responseTime"]');
    expect(mongo).toMatch(/pass/);
    expect(mongo).toMatch(/\d+(\.\d+)? ms/);
    await page().waitForSelector('#health-charts figure.chart canvas');
    // Thresholds beside the values, and a day of history from the stored samples.
    expect(mongo).toMatch(/warn ≥ \d+, fail ≥ \d+ ms/);
    const caption = await w.text('#health-charts figure[data-chart="mongodb:responseTime"] figcaption');
    expect(Number(/(\d+) intervals/.exec(caption)?.[1])).toBeGreaterThanOrEqual(90);
    await w.screenshot(SCREENSHOTS, 'health');
    await expectAccessible('health');
    w.expectClean();
  });

  let alertId: string;

  it('when the test raises an alert, then it appears in the alerts panel within 2 s without a reload, and the operator acknowledges it with a comment', async () => {
    await page().click('nav button[data-panel=alerts]');
    await w.waitForText('#alerts-live', 'Live');
    const raisedAt = Date.now();
    const raised = await t.container.deps.operations.alerts.raise({
      source: 'custom',
      kind: 'console.e2e',
      subject: 'db-1',
      severity: 'critical',
      title: 'Disk almost full on db-1',
      message: 'The data volume of db-1 is 97% full.',
      details: { host: 'db-1', percent: 97 },
    });
    alertId = raised.id;
    await page().waitForSelector(`#alerts-list tr[data-alert-id="${alertId}"]`, { timeout: 2_000 });
    expect(Date.now() - raisedAt).toBeLessThan(2_000);
    await w.screenshot(SCREENSHOTS, 'alerts');
    await expectAccessible('alerts');

    await page().click(`#alerts-list tr[data-alert-id="${alertId}"] button`);
    await typeInto('#alert-actions textarea[name=comment]', 'Looking at it: rotating logs on db-1');
    await page().click('#alert-ack');
    // The open-alerts filter drops it from the list; the detail shows who acknowledged it.
    await w.waitForText('#alert-detail', 'Acknowledged by');
    await w.waitForText('#alert-detail', 'rotating logs on db-1');
    const stored = await t.container.deps.operations.alertQueries.get(alertId);
    expect(stored).toMatchObject({
      status: 'acknowledged',
      acknowledgeComment: 'Looking at it: rotating logs on db-1',
    });
    await w.screenshot(SCREENSHOTS, 'alert-detail');
    await expectAccessible('alert detail');
    w.expectClean();
  });

  it('when the operator starts a manual backup, then its progress completes, it is listed, and verifying it succeeds', async () => {
    await page().click('nav button[data-panel=backups]');
    await page().waitForSelector('#backup-start', { visible: true });
    await page().click('#backup-start');
    await page().waitForSelector('#backup-progress-text[data-status=succeeded]', { timeout: 120_000 });
    await page().waitForSelector('#backups-list tr[data-backup-id]');
    const backupId = await page().$eval('#backups-list tr[data-backup-id]', (tr) => tr.getAttribute('data-backup-id'));
    expect(backupId).toBeTruthy();
    expect(await w.text(`#backups-list tr[data-backup-id="${backupId}"]`)).toMatch(/manual/);

    await page().click(`#backups-list tr[data-backup-id="${backupId}"] button.verify`);
    await waitFor(
      async () => /\bverified \(/.test(await w.text(`#backups-list tr[data-backup-id="${backupId}"] td.verification`)),
      120_000,
      'the backup to show as verified',
    );
    const verification = await w.text(`#backups-list tr[data-backup-id="${backupId}"] td.verification`);
    expect(verification).toMatch(/pass verified/);
    expect((await t.container.deps.operations.backups.get(backupId as string))?.verification?.ok).toBe(true);
    await w.screenshot(SCREENSHOTS, 'backups');
    await expectAccessible('backups');

    // Restore goes into a scratch database named by the operator, never over the live one.
    scratchDb = `${t.dbName}_scratch`.slice(0, 63);
    await typeInto(`#backups-list tr[data-backup-id="${backupId}"] input[name=toDb]`, scratchDb);
    await page().click(`#backups-list tr[data-backup-id="${backupId}"] form.restore button`);
    await waitFor(
      async () =>
        (await w.text('#backup-progress-text')).startsWith(`Restore of ${backupId} into ${scratchDb}: succeeded`),
      120_000,
      'the restore into the scratch database',
    );
    const restoredUsers = await t.container.database.connection
      .getClient()
      .db(scratchDb)
      .collection('users')
      .countDocuments();
    expect(restoredUsers).toBe(1);
    w.expectClean();
  });

  it('when the operator searches the audit trail for acknowledgements, then the one just made is there, and the chain verifies', async () => {
    await page().click('nav button[data-panel=audit]');
    await typeInto('#audit-search input[name=action]', 'alert.acknowledged');
    await typeInto('#audit-search input[name=resource]', 'alert');
    await page().keyboard.press('Enter');
    await page().waitForSelector('#audit-results[data-query*="action=alert.acknowledged"]');
    expect(await w.text('#audit-results tbody')).toContain(alertId);
    const actions = await page().$$eval('#audit-results tr[data-action]', (rows) =>
      rows.map((tr) => tr.getAttribute('data-action')),
    );
    expect(actions.length).toBeGreaterThanOrEqual(1);
    expect(new Set(actions)).toEqual(new Set(['alert.acknowledged']));
    await page().click('#audit-verify');
    await page().waitForSelector('#audit-chain[data-intact=true]', { timeout: 60_000 });
    expect(await w.text('#audit-chain')).toMatch(/Chain intact: \d+ entries checked/);
    await w.screenshot(SCREENSHOTS, 'audit');
    await expectAccessible('audit');
    w.expectClean();
  });

  it('when the page is zoomed to 200%, then every panel reflows without horizontal scrolling and stays clean', async () => {
    // 200% zoom of a 1280 px window: 640 CSS pixels at twice the density.
    await page().setViewport({ width: 640, height: 900, deviceScaleFactor: 2 });
    for (const panel of ['health', 'alerts', 'backups', 'audit']) {
      await page().click(`nav button[data-panel=${panel}]`);
      await page().waitForSelector(`nav button[data-panel=${panel}][aria-current=page]`);
      const overflow = await page().evaluate(() => {
        const doc = (
          globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
        ).document.documentElement;
        return doc.scrollWidth - doc.clientWidth;
      });
      expect({ panel, overflow }).toEqual({ panel, overflow: 0 });
    }
    await w.screenshot(SCREENSHOTS, 'zoom-200');
    w.expectClean();
  });
});
