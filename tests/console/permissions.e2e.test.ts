import { promises as fs } from 'node:fs';
import request from 'supertest';
import { TestClock, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { pollBackupJob } from '../support/backup-jobs';
import type { WatchedPage } from '../support/browser';
import { enrollAuthenticatorApp, startConsoleRig, type ConsoleRig } from '../support/console-rig';
import { oathtool } from '../support/two-factor';
import { bearer, createUser, mfaSession } from '../support/users';

const EMPLOYEE = 'employee@console-permissions.example';
const ADMIN = 'admin@console-permissions.example';
const VIEWER = 'viewer@console-permissions.example';

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
  let viewerSecret: string;
  let backupDir: string;
  const clock = new TestClock();
  const requested: string[] = [];

  beforeAll(async () => {
    backupDir = tempDir('console-permissions-backups');
    rig = await startConsoleRig(__filename, {
      env: { HEALTH_DISK_PERCENT: '0/1', BACKUP_DIR: backupDir },
      container: { now: clock.now },
    });
    ({ t, w } = rig);
    await createUser(t, EMPLOYEE, 'user');
    const adminId = await createUser(t, ADMIN, 'admin', 'it');
    secret = await enrollAuthenticatorApp(t, ADMIN, clock);
    // An on-call role that may look at everything the console shows and change nothing.
    await t.container.deps.access.roles.upsert(
      'oncall-viewer',
      { parent: 'user', grants: ['health:read:any', 'alert:read:any', 'backup:read:any', 'audit:read:any'] },
      adminId,
    );
    await createUser(t, VIEWER, 'oncall-viewer', 'it');
    viewerSecret = await enrollAuthenticatorApp(t, VIEWER, clock);
    // One backup in the list, made by the admin through the API.
    const adminToken = await mfaSession(t, adminId);
    const started = await request(t.app)
      .post('/api/v1/admin/backups')
      .set(...bearer(adminToken))
      .send({});
    expect(started.status).toBe(202);
    expect((await pollBackupJob(t.app, adminToken, started.body.jobId as string)).body.status).toBe('succeeded');
    w.page.on('request', (r) => requested.push(`${r.method()} ${new URL(r.url()).pathname}`));
  }, 180_000);

  afterAll(async () => {
    await rig?.close();
    await fs.rm(backupDir, { recursive: true, force: true });
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

  it('when a read-only on-call role signs in with 2FA, then every panel is shown without the actions it may not take, and nothing it does is refused', async () => {
    const refused: string[] = [];
    const onResponse = (r: { status(): number; url(): string }) => {
      if (r.status() === 403) refused.push(new URL(r.url()).pathname);
    };
    page().on('response', onResponse);
    try {
      // A fresh page: the console keeps no session across loads.
      await page().goto(`${rig.base}/console`, { waitUntil: 'networkidle0' });
      await passwordStep(VIEWER);
      await typeInto('form[data-method=totp] input[name=code]', oathtool(viewerSecret, clock.now()));
      await page().keyboard.press('Enter');
      await w.waitForText('header.top', 'Role: oncall-viewer (2FA)');
      expect(await tabs()).toEqual(['Health', 'Alerts', 'Backups', 'Audit trail']);

      await page().click('nav button[data-panel=alerts]');
      await w.waitForText('#alerts-live', 'Live');
      const raised = await t.container.deps.operations.alerts.raise({
        source: 'custom',
        kind: 'console.permissions',
        subject: 'db-1',
        severity: 'error',
        title: 'Backup volume almost full',
        message: 'The backup volume is 95% full.',
      });
      await page().waitForSelector(`#alerts-list tr[data-alert-id="${raised.id}"]`);
      await page().click(`#alerts-list tr[data-alert-id="${raised.id}"] button`);
      await w.waitForText('#alert-detail h3', 'Backup volume almost full');
      expect(await page().$('#alert-actions')).toBeNull();

      await page().click('nav button[data-panel=backups]');
      await page().waitForSelector('#backups-list tr[data-backup-id]');
      expect(await page().$('#backup-start')).toBeNull();
      expect(await page().$('#backups-list button.verify')).toBeNull();
      expect(await page().$('#backups-list form.restore')).toBeNull();

      await page().click('nav button[data-panel=audit]');
      await page().waitForSelector('#audit-results[data-query]');
      expect(await page().$('#audit-verify')).toBeNull();
    } finally {
      page().off('response', onResponse);
    }
    expect(refused).toEqual([]);
    w.expectClean();
  });
});
