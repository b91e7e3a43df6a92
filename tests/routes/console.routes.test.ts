import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { buildConsole, type ConsoleBuild } from '../../scripts/build-console';
import { CONSOLE_CSP, consoleRoutes } from '../../src/routes/console.routes';
import { errorHandler, notFound } from '../../src/middleware/error-handler';
import { createLogger } from '../../src/lib/logger';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { tempDir } from '../support/backup-fixtures';

const sri = (body: Buffer): string => `sha384-${createHash('sha384').update(body).digest('base64')}`;

const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

describe('/console (the operations console files)', () => {
  let t: TestApp;
  let built: ConsoleBuild;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir('console-route');
    built = await buildConsole(dir);
    t = await buildTestApp(__filename, { ...ROUTE_TEST_ENV, CONSOLE_DIR: dir });
  });
  afterAll(async () => {
    await t.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('when /console is requested, then the page comes with the console CSP, no caching, and no inline script or style', async () => {
    for (const url of ['/console', '/console/']) {
      const res = await request(t.app).get(url);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['content-security-policy']).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      );
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.text).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
      expect(res.text).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
      expect(res.text).not.toMatch(/https?:\/\//);
    }
  });

  it('when the page names its script and stylesheet, then each carries an SRI hash that matches the bytes served', async () => {
    const page = await request(t.app).get('/console');
    const refs = [...page.text.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)" integrity="([^"]+)"/g)];
    expect(refs.map(([, url]) => path.basename(url)).sort()).toEqual([built.script.file, built.style.file].sort());
    for (const [, url, integrity] of refs) {
      const asset = await request(t.app).get(url).buffer(true).parse(binary);
      expect(asset.status).toBe(200);
      expect(sri(asset.body as Buffer)).toBe(integrity);
      expect(asset.headers['cache-control']).toMatch(/immutable/);
      expect(asset.headers['content-security-policy']).toBe(CONSOLE_CSP);
    }
    expect(page.text).toContain('crossorigin="anonymous"');
  });

  it('when the API is called, then it keeps its own stricter policy (no script source at all)', async () => {
    const res = await request(t.app).get('/api/v1/auth/session');
    expect(res.status).toBe(401);
    expect(res.headers['content-security-policy']).toMatch(/^default-src 'none'/);
    expect(res.headers['content-security-policy']).not.toContain('script-src');
  });

  it('when a path outside the built files is asked for, then 404 problem+json, never a file from elsewhere', async () => {
    for (const url of [
      '/console/assets/missing.js',
      '/console/assets/..%2Findex.html',
      '/console/assets/%2e%2e/%2e%2e/package.json',
      '/console/index.html.bak',
      '/console/other',
    ]) {
      const res = await request(t.app).get(url);
      expect({ url, status: res.status }).toEqual({ url, status: 404 });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('when the console was not built, then /console is a 404 problem that says how to build it', async () => {
    const app = express();
    app.use('/console', ...consoleRoutes({ dir: path.join(dir, 'does-not-exist') }));
    app.use(notFound());
    app.use(errorHandler(createLogger({ level: 'silent' })));
    const res = await request(app).get('/console');
    expect(res.status).toBe(404);
    expect(res.body.detail).toContain('npm run build');
  });
});
