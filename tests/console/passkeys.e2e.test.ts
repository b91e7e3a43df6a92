import type { CDPSession } from 'puppeteer-core';
import type { TestApp } from '../support/app';
import type { WatchedPage } from '../support/browser';
import { startConsoleRig, type ConsoleRig } from '../support/console-rig';
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
  let rig: ConsoleRig;
  let t: TestApp;
  let w: WatchedPage;
  let cdp: CDPSession;
  let authenticatorId: string;
  let userId: string;

  beforeAll(async () => {
    rig = await startConsoleRig(__filename, {
      host: 'localhost',
      env: (base) => ({ CORS_ORIGINS: base, PASSKEY_RP_ID: 'localhost', PASSKEY_PASSWORDLESS_ROLES: 'admin' }),
    });
    ({ t, w } = rig);
    userId = await createUser(t, EMAIL, 'admin', 'it');
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
    await rig?.close();
  });

  const page = () => w.page;
  const stored = () => t.container.models.PasskeyCredential.find({ userId }).lean();
  const typeInto = (selector: string, text: string) => rig.typeInto(selector, text);
  const passwordStep = () => rig.passwordStep(EMAIL);
  const signOut = () => rig.signOut();

  it('when the operator registers a passkey in the console, then the virtual authenticator holds a discoverable credential and the server stores its public key', async () => {
    const res = await page().goto(`${rig.base}/console`, { waitUntil: 'networkidle0' });
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

  it('when the operator renames the passkey, then the list and the server show the new name, with its transport', async () => {
    const [passkey] = await stored();
    const row = `#passkeys-list tr[data-passkey-id="${passkey._id}"]`;
    expect(await w.text(row)).toContain('(internal)');
    await typeInto(`${row} input[name=newName]`, 'Work laptop');
    await page().keyboard.press('Enter');
    await w.waitForText(`${row} td.name`, 'Work laptop');
    expect((await stored())[0].name).toBe('Work laptop');
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
    await w.waitForText('#passkeys-list', 'Work laptop');
    await typeInto('#passkey-add input[name=password]', PASSWORD);
    await page().click('#passkeys-list button.remove');
    await w.waitForText('#passkeys-list', 'No passkey yet.');
    await waitFor(async () => (await stored()).length === 0, 10_000, 'the passkey to be deleted');
    expect((await t.container.models.User.findById(userId).lean())?.mfa.methods).toEqual([]);
    w.expectClean();
  });
});
