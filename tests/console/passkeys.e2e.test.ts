import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { Browser, CDPSession } from 'puppeteer-core';
import { freePort } from '../../scripts/local-services';
import { buildConsole } from '../../scripts/build-console';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';
import { launchBrowser, WatchedPage } from '../support/browser';
import { createUser, PASSWORD } from '../support/users';
import { waitFor } from '../support/wait';

const EMAIL = 'passkey.operator@console-e2e.example';

/**
 * Passkeys end to end: headless Chromium with the DevTools Protocol's virtual authenticator
 * (internal transport, resident keys, user verification) against the real app on FerretDB
 * and Redis. The operator registers a passkey from the console, signs out, signs in with
 * password + passkey, then with the passkey alone, and removes it.
 *
 * WebAuthn needs a secure context and a domain RP id: the page is loaded from
 * http://localhost:<port> (localhost is both), and that origin is the CORS and passkey origin.
 */
describe('passkeys in the operations console (headless Chromium, virtual authenticator)', () => {
  let t: TestApp;
  let server: Server;
  let browser: Browser;
  let w: WatchedPage;
  let cdp: CDPSession;
  let authenticatorId: string;
  let base: string;
  let buildDir: string;
  let userId: string;

  beforeAll(async () => {
    buildDir = tempDir('console-passkeys-build');
    await buildConsole(buildDir);
    const port = await freePort();
    base = `http://localhost:${port}`;
    t = await buildTestApp(__filename, {
      ...ROUTE_TEST_ENV,
      CONSOLE_DIR: buildDir,
      BACKUP_ENABLED: 'false',
      CORS_ORIGINS: base,
      PASSKEY_RP_ID: 'localhost',
      PASSKEY_PASSWORDLESS_ROLES: 'admin',
    });
    userId = await createUser(t, EMAIL, 'admin', 'it');
    await new Promise<void>((resolve) => {
      server = t.app.listen(port, '127.0.0.1', () => resolve());
    });
    browser = await launchBrowser();
    w = await WatchedPage.open(browser);
    cdp = await w.page.createCDPSession();
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
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
  const stored = () => t.container.models.PasskeyCredential.find({ userId }).lean();

  async function typeInto(selector: string, text: string): Promise<void> {
    await page().waitForSelector(selector, { visible: true });
    await page().click(selector, { count: 3 });
    await page().type(selector, text);
  }

  async function passwordStep(): Promise<void> {
    await typeInto('#signin-password input[name=email]', EMAIL);
    await typeInto('#signin-password input[name=password]', PASSWORD);
    await page().keyboard.press('Enter');
  }

  async function signOut(): Promise<void> {
    await page().click('#sign-out');
    await page()
      .waitForSelector('#signin-password', { visible: true })
      .catch(async (err: unknown) => {
        throw new Error(`${String(err)}\n${await w.text('body')}\n${w.consoleErrors.join('\n')}`);
      });
  }

  it('when the operator registers a passkey in the console, then the virtual authenticator holds a discoverable credential and the server stores its public key', async () => {
    const res = await page().goto(`${base}/console`, { waitUntil: 'networkidle0' });
    expect(res?.status()).toBe(200);
    await passwordStep();
    await w.waitForText('header.top', 'Role: admin');
    // A password-only admin session: the admin panels need 2FA, so none is shown (from the
    // session's effective permissions; no request is made to be refused with 403).
    await w.waitForText('.notice[role=status]', 'Your role may not see any panel');
    expect(await page().$$('nav button.tab')).toHaveLength(0);
    w.expectClean();

    await page().click('#open-passkeys');
    await w.waitForText('#passkeys-list', 'No passkey yet.');
    await typeInto('#passkey-add input[name=password]', PASSWORD);
    await typeInto('#passkey-add input[name=name]', 'Virtual authenticator');
    await page().click('#passkey-add button[type=submit]');
    await w.waitForText('#passkeys-list', 'Virtual authenticator');

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });
    const [passkey] = await stored();
    expect(passkey).toMatchObject({ name: 'Virtual authenticator', transports: ['internal'] });
    // Chromium reports the credential id in standard base64; the server keeps base64url.
    expect(
      Buffer.from(passkey.credentialId, 'base64url').equals(Buffer.from(credentials[0].credentialId, 'base64')),
    ).toBe(true);
    expect((await t.container.models.User.findById(userId).lean())?.mfa.methods).toEqual(['passkey']);
    expect({ panel: 'passkeys', violations: await w.axe('serious') }).toEqual({ panel: 'passkeys', violations: [] });
    w.expectClean();
  });

  it('when the operator signs out and in again, then the password step asks for the passkey and it gives a 2FA session', async () => {
    await signOut();
    await passwordStep();
    await page()
      .waitForSelector('#passkey-second-factor button', { visible: true })
      .catch(async (err: unknown) => {
        throw new Error(`${String(err)}\n${await w.text('body')}\n${w.consoleErrors.join('\n')}`);
      });
    expect({ panel: 'second factor', violations: await w.axe('serious') }).toEqual({
      panel: 'second factor',
      violations: [],
    });
    await page().click('#passkey-second-factor button');
    await w.waitForText('header.top', 'Role: admin (2FA)').catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await w.text('body')}\n${w.consoleErrors.join('\n')}`);
    });
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    const [passkey] = await stored();
    expect(passkey.lastUsedAt).toBeInstanceOf(Date);
    expect(passkey.counter).toBe(credentials[0].signCount);
    w.expectClean();
  });

  it('when the operator signs out and uses "Sign in with a passkey", then the passkey alone signs in (no email, no password)', async () => {
    await signOut();
    const before = (await stored())[0].counter;
    await page().click('#signin-passkey');
    await w.waitForText('header.top', 'Role: admin (2FA)');
    expect((await stored())[0].counter).toBeGreaterThan(before);
    const login = await t.container.models.AuditEvent.findOne({
      action: 'auth.login',
      actorId: userId,
      outcome: 'succeeded',
    })
      .sort({ seq: -1 })
      .lean();
    expect(login?.details).toMatchObject({ mfa: 'passkey', passwordless: true });
    w.expectClean();
  });

  it('when the operator removes the passkey (password again, 2FA session), then it is gone from the list and the server', async () => {
    await page().click('#open-passkeys');
    await w.waitForText('#passkeys-list', 'Virtual authenticator');
    await typeInto('#passkey-add input[name=password]', PASSWORD);
    await page().click('#passkeys-list button.remove');
    await w.waitForText('#passkeys-list', 'No passkey yet.');
    await waitFor(async () => (await stored()).length === 0, 10_000, 'the passkey to be deleted');
    expect((await t.container.models.User.findById(userId).lean())?.mfa.methods).toEqual([]);
    w.expectClean();
  });
});
