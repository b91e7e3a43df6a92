import { existsSync, readFileSync } from 'node:fs';
import { source as axeCoreSource } from 'axe-core';
import { mkdir, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page, PuppeteerNode } from 'puppeteer-core';

/**
 * puppeteer-core ships only ES modules, which jest's CommonJS registry refuses to load
 * before Node 24.9 (createRequire and process.getBuiltinModule included). esbuild bundles
 * it once per installed version into one CommonJS file in the temp directory, which jest
 * loads like any other module (a few seconds the first time, then nothing).
 */
async function loadPuppeteer(): Promise<PuppeteerNode> {
  const entry = require.resolve('puppeteer-core');
  const manifest = path.join(entry.slice(0, entry.lastIndexOf(`${path.sep}lib${path.sep}`)), 'package.json');
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  const bundle = path.join(os.tmpdir(), `erp-test-puppeteer-core-${version}.cjs`);
  if (!existsSync(bundle)) {
    // Written aside and renamed, so parallel test files never load a half-written bundle.
    const partial = `${bundle}.${process.pid}.tmp`;
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: partial,
      // ws's optional native speed-ups.
      external: ['bufferutil', 'utf-8-validate'],
      logLevel: 'error',
    });
    await rename(partial, bundle);
  }
  // A path only known at run time: a static import cannot name it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(bundle) as { default: PuppeteerNode }).default;
}

/** Debian's chromium (scripts/ensure-test-tools.sh installs it); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Debian's firefox-esr (scripts/ensure-test-tools.sh installs it); FIREFOX_PATH overrides. */
export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

export type BrowserKind = 'chromium' | 'firefox';

/**
 * A headless browser for the browser tests: Chromium over the DevTools Protocol, Firefox over
 * WebDriver BiDi (puppeteer speaks both). `--no-sandbox`: the test machines run as root.
 */
export async function launchBrowser(kind: BrowserKind = 'chromium'): Promise<Browser> {
  const puppeteer = await loadPuppeteer();
  if (kind === 'firefox')
    return puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX_PATH,
      headless: true,
      protocolTimeout: 120_000,
    });
  return puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
    protocolTimeout: 120_000,
  });
}

/**
 * The little of the page's DOM these functions touch. They run in the browser; the test
 * project compiles without the DOM library (it is a Node project), so they say what they use.
 */
interface PageGlobals {
  document: {
    addEventListener(
      type: 'securitypolicyviolation',
      fn: (e: { effectiveDirective: string; blockedURI: string; sourceFile: string; lineNumber: number }) => void,
    ): void;
    querySelector(selector: string): { textContent: string | null } | null;
  };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * A page under watch: every console error, uncaught exception and Content-Security-Policy
 * violation is recorded from the first byte on, so a test can assert the page stayed clean.
 */
export class WatchedPage {
  readonly consoleErrors: string[] = [];
  readonly cspViolations: string[] = [];

  private constructor(readonly page: Page) {}

  static async open(
    browser: Browser,
    opts: { viewport?: { width: number; height: number } } = {},
  ): Promise<WatchedPage> {
    const page = await browser.newPage();
    const w = new WatchedPage(page);
    await page.setViewport(opts.viewport ?? { width: 1280, height: 900 });
    page.on('console', (msg) => {
      if (msg.type() === 'error') w.consoleErrors.push(`${msg.text()} @ ${msg.location()?.url ?? ''}`);
    });
    page.on('pageerror', (err) => w.consoleErrors.push(`uncaught: ${String(err)}`));
    // Reported to the page itself by the browser; exposed before any page script runs.
    await page.exposeFunction('__reportCspViolation', (v: string) => w.cspViolations.push(v));
    await page.evaluateOnNewDocument(() => {
      const report = (globalThis as unknown as { __reportCspViolation(v: string): void }).__reportCspViolation;
      (globalThis as unknown as PageGlobals).document.addEventListener('securitypolicyviolation', (e) => {
        report(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
      });
    });
    return w;
  }

  /** Fails with everything the page reported, if it reported anything. */
  expectClean(): void {
    expect({ consoleErrors: this.consoleErrors, cspViolations: this.cspViolations }).toEqual({
      consoleErrors: [],
      cspViolations: [],
    });
  }

  /**
   * Runs axe-core in the page (evaluated through the DevTools protocol, which the page's CSP
   * does not govern: no inline script is added) and returns the violations of at least
   * `minImpact`.
   */
  async axe(minImpact: 'serious' | 'critical' = 'serious'): Promise<AxeViolation[]> {
    const loaded = await this.page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe === 'object');
    if (!loaded) await this.page.evaluate(axeCoreSource);
    const violations = await this.page.evaluate(async () => {
      type Result = {
        violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }>;
      };
      const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<Result> } }).axe;
      const r = await axe.run((globalThis as unknown as PageGlobals).document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => n.target.map(String).join(' ')),
      }));
    });
    const rank = { minor: 0, moderate: 1, serious: 2, critical: 3 } as Record<string, number>;
    return violations.filter((v) => (rank[v.impact ?? 'minor'] ?? 0) >= rank[minImpact]);
  }

  /** Saves a full-page PNG under `dir` when `enabled` (UPDATE_SCREENSHOTS=1), so CI runs leave the tree alone. */
  async screenshot(dir: string, name: string, enabled = process.env.UPDATE_SCREENSHOTS === '1'): Promise<void> {
    if (!enabled) return;
    await mkdir(dir, { recursive: true });
    await this.page.screenshot({ path: path.join(dir, `${name}.png`) as `${string}.png`, fullPage: true });
  }

  /** Waits until the visible text of `selector` contains `text`. */
  async waitForText(selector: string, text: string, timeoutMs = 30_000): Promise<void> {
    await this.page.waitForFunction(
      (sel: string, t: string) =>
        ((globalThis as unknown as PageGlobals).document.querySelector(sel)?.textContent ?? '').includes(t),
      { timeout: timeoutMs, polling: 50 },
      selector,
      text,
    );
  }

  async text(selector: string): Promise<string> {
    return this.page.$eval(selector, (el) => el.textContent ?? '');
  }
}
