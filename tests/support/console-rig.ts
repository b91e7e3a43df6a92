import { promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import type { Browser, Page } from 'puppeteer-core';
import request from 'supertest';
import { freePort } from '../../scripts/local-services';
import { buildConsole } from '../../scripts/build-console';
import type { ContainerOptions } from '../../src/container';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from './app';
import { tempDir } from './backup-fixtures';
import { launchBrowser, WatchedPage, type BrowserKind } from './browser';
import { oathtool } from './two-factor';
import { bearer, login, PASSWORD } from './users';

/**
 * The operations console as a browser test meets it: the console built into a temporary
 * directory, the real app listening on a free port on FerretDB and Redis, and one watched
 * page in a headless browser. The browser end-to-end tests share it, so each reads as the
 * operator's steps only.
 */
export interface ConsoleRig {
  t: TestApp;
  /** Origin the page is loaded from, e.g. http://127.0.0.1:41234. */
  base: string;
  browser: Browser;
  w: WatchedPage;
  page(): Page;
  /** Focuses a visible field, selects what it holds and types `text` over it. */
  typeInto(selector: string, text: string): Promise<void>;
  /** The sign-in form's first step, submitted with Enter (keyboard only). */
  passwordStep(email: string, password?: string): Promise<void>;
  signOut(): Promise<void>;
  close(): Promise<void>;
}

export interface ConsoleRigOptions {
  /** Configuration on top of ROUTE_TEST_ENV and the console's own; may depend on the origin. */
  env?: Record<string, string> | ((base: string) => Record<string, string>);
  container?: ContainerOptions;
  /** `localhost` where the page needs a secure context with a domain (WebAuthn). */
  host?: '127.0.0.1' | 'localhost';
  browser?: BrowserKind;
}

export async function startConsoleRig(file: string, opts: ConsoleRigOptions = {}): Promise<ConsoleRig> {
  const buildDir = tempDir('console-build');
  await buildConsole(buildDir);
  const port = await freePort();
  const base = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  const env = typeof opts.env === 'function' ? opts.env(base) : (opts.env ?? {});
  const t = await buildTestApp(
    file,
    { ...ROUTE_TEST_ENV, CONSOLE_DIR: buildDir, BACKUP_ENABLED: 'false', ...env },
    opts.container,
  );
  const server = await new Promise<Server>((resolve) => {
    const s: Server = t.app.listen(port, '127.0.0.1', () => resolve(s));
  });
  const browser = await launchBrowser(opts.browser);
  const w = await WatchedPage.open(browser);
  const page = (): Page => w.page;

  async function typeInto(selector: string, text: string): Promise<void> {
    await page().waitForSelector(selector, { visible: true });
    await page().click(selector, { count: 3 });
    await page().type(selector, text);
  }

  return {
    t,
    base,
    browser,
    w,
    page,
    typeInto,
    async passwordStep(email, password = PASSWORD) {
      await typeInto('#signin-password input[name=email]', email);
      await typeInto('#signin-password input[name=password]', password);
      await page().keyboard.press('Enter');
    },
    async signOut() {
      await page().click('#sign-out');
      await page()
        .waitForSelector('#signin-password', { visible: true })
        .catch(async (err: unknown) => {
          throw new Error(`${String(err)}\n${await w.text('body')}\n${w.consoleErrors.join('\n')}`);
        });
    },
    async close() {
      await browser.close();
      // Open alert streams would keep the server from closing.
      await t.container.deps.operations.alertStream.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await t.close();
      await fs.rm(buildDir, { recursive: true, force: true });
    },
  };
}

/**
 * Enrolls an authenticator app for a signed-in user through the real routes and returns its
 * secret. The enabling code's 30-second step is spent afterwards: the clock is moved to the
 * next one, as a person would wait for the app's next code.
 */
export async function enrollAuthenticatorApp(
  t: TestApp,
  email: string,
  clock: { now(): Date; advance(ms: number): void },
): Promise<string> {
  const session = await login(t, email);
  expect(session.status).toBe(200);
  const setup = await request(t.app)
    .post('/api/v1/auth/2fa/totp/setup')
    .set(...bearer(session.body.accessToken))
    .send({ password: PASSWORD });
  expect(setup.status).toBe(200);
  const secret = setup.body.secret as string;
  const enabled = await request(t.app)
    .post('/api/v1/auth/2fa/totp/enable')
    .set(...bearer(session.body.accessToken))
    .send({ code: oathtool(secret, clock.now()) });
  expect(enabled.status).toBe(200);
  clock.advance(30_000);
  return secret;
}
