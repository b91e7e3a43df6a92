import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { HTTPRequest } from 'puppeteer-core';
import request from 'supertest';
import { TestClock, type TestApp } from './app';
import { tempDir } from './backup-fixtures';
import type { BrowserKind, WatchedPage } from './browser';
import { startConsoleRig, type ConsoleRig } from './console-rig';
import { oathtool } from './two-factor';
import { createUser, login, PASSWORD } from './users';
import { waitFor } from './wait';

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
 * The acceptance run of the operations console, in one headless browser against the real app
 * (listening on a free port) on FerretDB and Redis. One operator's night: enroll an
 * authenticator, sign in with it, watch health, take an alert live (and again after the
 * stream drops), back up, check the trail, zoom to 200 %. Each browser runs it from its own
 * test file (its own database and Redis prefix); Chromium's run takes the docs' screenshots.
 */
export function describeConsoleAcceptance(file: string, kind: BrowserKind): void {
  describe(`operations console in headless ${kind === 'chromium' ? 'Chromium' : 'Firefox'}`, () => {
    let rig: ConsoleRig;
    let t: TestApp;
    let w: WatchedPage;
    let base: string;
    let backupDir: string;
    const clock = new TestClock();
    let secret: string;
    let scratchDb: string | undefined;

    beforeAll(async () => {
      backupDir = tempDir('console-backups');
      rig = await startConsoleRig(file, {
        browser: kind,
        env: {
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
        container: { now: clock.now },
      });
      ({ t, w, base } = rig);
      adminId = await createUser(t, EMAIL, 'admin', 'it');
      await seedHealthHistory(t);
    }, 180_000);

    afterAll(async () => {
      if (scratchDb)
        await t?.container.database.connection
          .getClient()
          .db(scratchDb)
          .dropDatabase()
          .catch(() => undefined);
      await rig?.close();
      await fs.rm(backupDir, { recursive: true, force: true });
    });

    const page = () => w.page;
    const screenshot = (name: string): Promise<void> =>
      kind === 'chromium' ? w.screenshot(SCREENSHOTS, name) : Promise.resolve();
    const typeInto = (selector: string, text: string) => rig.typeInto(selector, text);

    async function expectAccessible(panel: string): Promise<void> {
      expect({ panel, violations: await w.axe('serious') }).toEqual({ panel, violations: [] });
    }

    it('when an admin without a second factor signs in, then the console enrolls an authenticator app with a QR code first', async () => {
      const res = await page().goto(`${base}/console`, { waitUntil: 'networkidle0' });
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
      await typeInto('#signin-password input[name=email]', EMAIL);
      await typeInto('#signin-password input[name=password]', PASSWORD);
      await screenshot('sign-in');
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
      await screenshot('enroll');
      await expectAccessible('enrollment');

      await typeInto('#enroll-confirm input[name=code]', oathtool(secret, clock.now()));
      await page().keyboard.press('Enter');
      await page().waitForSelector('ul.codes li', { visible: true });
      backupCodes = await page().$$eval('ul.codes li', (items) => items.map((li) => (li.textContent ?? '').trim()));
      expect(backupCodes.length).toBeGreaterThanOrEqual(8);
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
      await screenshot('health');
      await expectAccessible('health');
      w.expectClean();
    });

    let alertId: string;
    let missedId: string;
    let adminId: string;
    let backupCodes: string[] = [];
    let warningId: string;

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
      await screenshot('alerts');
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
      await screenshot('alert-detail');
      await expectAccessible('alert detail');
      w.expectClean();
    });

    /**
     * Drops this page's live alert stream the way a lost Redis subscription does (the server
     * ends every stream so its clients resume from the store), runs `meanwhile` while the page
     * has no stream at all (its reconnect request is held until then), and lets the page
     * reconnect. Returns the headers of the reconnect request.
     */
    async function dropStreamWhile(meanwhile: () => Promise<void>): Promise<Record<string, string>> {
      const held: HTTPRequest[] = [];
      const streamRequests: Array<Record<string, string>> = [];
      let releasing = false;
      const intercept = (r: HTTPRequest): void => {
        if (r.isInterceptResolutionHandled()) return;
        if (releasing || new URL(r.url()).pathname !== '/api/v1/alerts/stream') return void r.continue();
        streamRequests.push(r.headers());
        held.push(r);
      };
      page().on('request', intercept);
      await page().setRequestInterception(true);
      try {
        const clients = String(await t.container.redis.client('LIST'));
        const subscriber = clients
          .split('\n')
          .find((line) => line.includes(` name=alert-stream:${t.redisPrefix}alerts:changes `));
        const id = /\bid=(\d+)/.exec(subscriber ?? '')?.[1];
        expect(id).toBeDefined();
        await t.container.redis.client('KILL', 'ID', id as string);
        await w.waitForText('#alerts-live', 'Reconnecting…', 10_000);
        await meanwhile();
        // The browser retries after the server's `retry: 3000`; let its request through now.
        await waitFor(async () => held.length > 0, 15_000, 'the console to reconnect the alert stream');
      } finally {
        releasing = true;
        for (const r of held.splice(0)) await r.continue().catch(() => undefined);
        await page().setRequestInterception(false);
        page().off('request', intercept);
      }
      return streamRequests[0];
    }

    it('when the live stream drops, then the panel says it is reconnecting, resumes from the last event it saw, and an alert raised meanwhile appears once', async () => {
      await w.waitForText('#alerts-live', 'Live');
      const reconnect = await dropStreamWhile(async () => {
        missedId = (
          await t.container.deps.operations.alerts.raise({
            source: 'custom',
            kind: 'console.e2e.missed',
            subject: 'db-2',
            severity: 'error',
            title: 'Replication lag on db-2',
            message: 'db-2 is 40 s behind its primary.',
          })
        ).id;
      });
      expect(reconnect['last-event-id']).toMatch(/\S/);
      await page().waitForSelector(`#alerts-list tr[data-alert-id="${missedId}"]`, { timeout: 15_000 });
      await w.waitForText('#alerts-live', 'Live', 15_000);
      expect(await page().$$(`#alerts-list tr[data-alert-id="${missedId}"]`)).toHaveLength(1);

      // Live again: the next alert arrives over the resumed stream within the 2 s.
      const raisedAt = Date.now();
      const next = await t.container.deps.operations.alerts.raise({
        source: 'custom',
        kind: 'console.e2e.after-resume',
        subject: 'db-3',
        severity: 'warning',
        title: 'Slow queries on db-3',
        message: 'p95 query time on db-3 is 900 ms.',
      });
      warningId = next.id;
      await page().waitForSelector(`#alerts-list tr[data-alert-id="${next.id}"]`, { timeout: 2_000 });
      expect(Date.now() - raisedAt).toBeLessThan(2_000);
      w.expectClean();
    });

    it('when the stream drops before it delivered any event (the panel was just opened), then the list is reloaded and an alert raised meanwhile appears', async () => {
      // A fresh panel: its stream has no event id to resume from, so the server replays nothing.
      await page().click('nav button[data-panel=health]');
      await page().click('nav button[data-panel=alerts]');
      await w.waitForText('#alerts-live', 'Live');
      let quietId = '';
      const reconnect = await dropStreamWhile(async () => {
        quietId = (
          await t.container.deps.operations.alerts.raise({
            source: 'custom',
            kind: 'console.e2e.quiet-drop',
            subject: 'queue-1',
            severity: 'warning',
            title: 'Mail queue growing on queue-1',
            message: '1,200 messages waiting on queue-1.',
          })
        ).id;
      });
      expect(reconnect['last-event-id']).toBeUndefined();
      await page().waitForSelector(`#alerts-list tr[data-alert-id="${quietId}"]`, { timeout: 15_000 });
      await w.waitForText('#alerts-live', 'Live', 15_000);
      expect(await page().$$(`#alerts-list tr[data-alert-id="${quietId}"]`)).toHaveLength(1);
      w.expectClean();
    });

    it('when the operator filters by severity and resolves an alert with a comment, then the list follows the filter and the detail shows the resolution and each channel’s delivery', async () => {
      const rowOf = (id: string) => `#alerts-list tr[data-alert-id="${id}"]`;
      await page().select('#panel select[name=severity]', 'warning');
      await page().waitForSelector(rowOf(missedId), { hidden: true });
      await page().waitForSelector(rowOf(warningId));
      await page().select('#panel select[name=severity]', '');
      await page().waitForSelector(rowOf(missedId));

      await page().click(`${rowOf(missedId)} button`);
      await w.waitForText('#alert-detail h3', 'Replication lag on db-2');
      await typeInto('#alert-actions textarea[name=comment]', 'Replica resynced from a fresh snapshot');
      await page().click('#alert-resolve');
      await w.waitForText('#alert-detail', 'Resolved by');
      await w.waitForText('#alert-detail', 'Replica resynced from a fresh snapshot');
      // Resolved alerts leave the open-alerts list; the form to act on it is gone.
      await page().waitForSelector(rowOf(missedId), { hidden: true });
      expect(await page().$('#alert-actions')).toBeNull();
      expect(await t.container.deps.operations.alertQueries.get(missedId)).toMatchObject({
        status: 'resolved',
        resolveComment: 'Replica resynced from a fresh snapshot',
      });
      // One row per stored delivery, with its channel and status as words.
      const stored = await t.container.deps.operations.alertQueries.get(missedId);
      const shown = await page().$$eval('#alert-detail table.deliveries tbody tr', (rows) =>
        rows.map((tr) => [tr.getAttribute('data-channel'), tr.textContent ?? '']),
      );
      expect(shown.map(([channel]) => channel).sort()).toEqual(stored?.deliveries.map((d) => d.channel).sort());
      for (const d of stored?.deliveries ?? [])
        expect(shown.find(([channel]) => channel === d.channel)?.[1]).toContain(d.status);
      expect(shown.length).toBeGreaterThan(0);
      await expectAccessible('resolved alert');
      w.expectClean();
    });

    it('when the operator starts a manual backup, then its progress completes, it is listed, and verifying it succeeds', async () => {
      await page().click('nav button[data-panel=backups]');
      await page().waitForSelector('#backup-start', { visible: true });
      await page().click('#backup-start');
      await page().waitForSelector('#backup-progress-text[data-status=succeeded]', { timeout: 120_000 });
      await page().waitForSelector('#backups-list tr[data-backup-id]');
      const backupId = await page().$eval('#backups-list tr[data-backup-id]', (tr) =>
        tr.getAttribute('data-backup-id'),
      );
      expect(backupId).toBeTruthy();
      expect(await w.text(`#backups-list tr[data-backup-id="${backupId}"]`)).toMatch(/manual/);

      await page().click(`#backups-list tr[data-backup-id="${backupId}"] button.verify`);
      await waitFor(
        async () =>
          /\bverified \(/.test(await w.text(`#backups-list tr[data-backup-id="${backupId}"] td.verification`)),
        120_000,
        'the backup to show as verified',
      );
      const verification = await w.text(`#backups-list tr[data-backup-id="${backupId}"] td.verification`);
      expect(verification).toMatch(/pass verified/);
      expect((await t.container.deps.operations.backups.get(backupId as string))?.verification?.ok).toBe(true);
      await screenshot('backups');
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

      // By actor and time: the operator's own acknowledgement lies within the last hour, not after the next.
      await typeInto('#audit-search input[name=actorId]', adminId);
      const searchFrom = async (offsetMs: number): Promise<string[]> => {
        // datetime-local holds local time without a zone; the console sends it as an instant.
        const local = new Date(clock.now().getTime() + offsetMs - new Date().getTimezoneOffset() * 60_000)
          .toISOString()
          .slice(0, 16);
        await page().$eval(
          '#audit-search input[name=from]',
          (el, v) => {
            (el as unknown as { value: string }).value = v;
          },
          local,
        );
        await page().click('#audit-search button[type=submit]');
        // The results shown answer this query (the attribute is set when they are rendered).
        const answered = new URLSearchParams({ actorId: adminId, from: new Date(local).toISOString() });
        await page().waitForFunction(
          (parts: string[]) => {
            const q = (
              globalThis as unknown as { document: { querySelector(s: string): { getAttribute(a: string): string } } }
            ).document
              .querySelector('#audit-results')
              .getAttribute('data-query');
            return parts.every((p) => q.includes(p));
          },
          {},
          answered.toString().split('&'),
        );
        return page().$$eval('#audit-results tr[data-action]', (rows) => rows.map((tr) => tr.textContent ?? ''));
      };
      const lastHour = await searchFrom(-3_600_000);
      expect(lastHour.length).toBeGreaterThanOrEqual(1);
      expect(lastHour.join('\n')).toContain(alertId);
      expect(await searchFrom(3_600_000)).toEqual([]);
      await page().click('#audit-verify');
      await page().waitForSelector('#audit-chain[data-intact=true]', { timeout: 60_000 });
      expect(await w.text('#audit-chain')).toMatch(/Chain intact: \d+ entries checked/);
      await screenshot('audit');
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
      await screenshot('zoom-200');
      w.expectClean();
    });
    it('when the operator signs out everywhere, then the console shows sign-in and another session of the same operator can no longer refresh', async () => {
      // A second session (another browser, say), opened through the API with the next code.
      clock.advance(30_000);
      const first = await login(t, EMAIL);
      expect(first.body.mfaRequired).toBe(true);
      const other = await request(t.app)
        .post('/api/v1/auth/2fa/verify')
        .send({ mfaToken: first.body.mfaToken, method: 'totp', code: oathtool(secret, clock.now()) });
      expect(other.status).toBe(200);

      await page().click('#sign-out-all');
      await page().waitForSelector('#signin-password', { visible: true });
      await w.waitForText('body', 'Signed out of every session.');
      const refreshed = await request(t.app)
        .post('/api/v1/auth/refresh')
        .send({ refreshToken: other.body.refreshToken as string });
      expect(refreshed.status).toBe(401);
      w.expectClean();
    });

    it('when the operator signs in with one of the backup codes shown at enrollment, then it opens a 2FA session and is spent', async () => {
      const unused = async () =>
        ((await t.container.models.User.findById(adminId).lean())?.mfa.backupCodes ?? []).filter(
          (c) => c.usedAt === null,
        ).length;
      const before = await unused();
      await page().waitForSelector('#signin-password', { visible: true });
      await rig.passwordStep(EMAIL);
      await typeInto('form[data-method=backup] input[name=code]', backupCodes[0]);
      await page().keyboard.press('Enter');
      await w.waitForText('header.top', 'Role: admin (2FA)');
      expect(await unused()).toBe(before - 1);
      w.expectClean();
    });
  });
}
