import { promises as fs } from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler } from 'express';
import { AppError } from '../lib/errors';
import { PERMISSIONS_POLICY } from '../middleware/security-headers';

/**
 * The console's own policy: its scripts, styles, images and API calls come from this origin
 * only (QR codes are data: images), nothing inline, nothing third-party. The API's stricter
 * `default-src 'none'` policy (security-headers.ts) stays on everything else.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/**
 * The API's Permissions-Policy, except that the console's own pages may ask for a passkey
 * (navigator.credentials.get: second step and passwordless sign-in); frames never may.
 */
export const CONSOLE_PERMISSIONS_POLICY = PERMISSIONS_POLICY.replace(
  'publickey-credentials-get=()',
  'publickey-credentials-get=(self)',
);

const ONE_YEAR_SECONDS = 365 * 24 * 60 * 60;

/**
 * /console: the operations console built by `npm run build` (scripts/build-console.ts) into
 * `dir`. Plain middleware rather than routes: these are files, not API operations, so the
 * OpenAPI walk does not see them. index.html is never cached (it names the current hashed
 * assets with their SRI hashes); the hashed assets are immutable.
 */
export function consoleRoutes(opts: { dir: string }): RequestHandler[] {
  const dir = path.resolve(opts.dir);
  const policy: RequestHandler = (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Permissions-Policy', CONSOLE_PERMISSIONS_POLICY);
    next();
  };
  const index: RequestHandler = async (req, res, next) => {
    if (req.path !== '/' || (req.method !== 'GET' && req.method !== 'HEAD')) return next();
    let html: Buffer;
    try {
      html = await fs.readFile(path.join(dir, 'index.html'));
    } catch {
      throw AppError.notFound('The operations console is not built here: run `npm run build`.');
    }
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(html);
  };
  const assets = express.static(path.join(dir, 'assets'), {
    index: false,
    redirect: false,
    dotfiles: 'deny',
    etag: false,
    immutable: true,
    maxAge: ONE_YEAR_SECONDS * 1000,
  });
  const underAssets: RequestHandler = (req, res, next) => {
    if (!req.path.startsWith('/assets/')) return next();
    // express.static resolves against the mount path: strip `/assets` so it sees the file name.
    const original = req.url;
    req.url = req.url.slice('/assets'.length);
    assets(req, res, (err?: unknown) => {
      req.url = original;
      next(err);
    });
  };
  return [policy, index, underAssets];
}
