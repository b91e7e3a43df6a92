import type { RequestHandler } from 'express';
import cors from 'cors';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';

export interface CorsPolicyOptions {
  /** Exact origins (`https://erp.example.com`), as a browser serialises them: scheme, host, port if non-default. */
  allowedOrigins: readonly string[];
  logger: Logger;
  /** How long browsers may cache a preflight answer (Access-Control-Max-Age). */
  maxAgeSeconds?: number;
}

export const CORS_ALLOWED_METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
export const CORS_ALLOWED_HEADERS: readonly string[] = [
  'Authorization',
  'Content-Type',
  'X-Request-Id',
  'X-API-Key',
  'Idempotency-Key',
  // Optimistic concurrency: frontends send back the ETag they read (docs/RESOURCES.md).
  'If-Match',
  'If-None-Match',
];
export const CORS_EXPOSED_HEADERS: readonly string[] = [
  'RateLimit',
  'RateLimit-Policy',
  'Retry-After',
  'X-Request-Id',
  'ETag',
];
export const DEFAULT_CORS_MAX_AGE_SECONDS = 600;

/**
 * Checks one configured origin and returns it unchanged. Fails at startup on anything that could
 * never match a browser's Origin header exactly (trailing slash, path, upper case, wildcard, `null`),
 * because a silently non-matching entry locks a frontend out and a wildcard lets everyone in.
 */
export function validateAllowedOrigin(origin: string): string {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    throw new Error(`CORS allowed origin is not a URL: ${JSON.stringify(origin)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new Error(`CORS allowed origin must be http(s): ${JSON.stringify(origin)}`);
  }
  if (parsed.origin !== origin) {
    throw new Error(
      `CORS allowed origin must be an exact origin such as ${JSON.stringify(parsed.origin)}, got ${JSON.stringify(origin)}`,
    );
  }
  return origin;
}

function isPreflight(method: string, accessControlRequestMethod: string | undefined): boolean {
  return method === 'OPTIONS' && accessControlRequestMethod !== undefined;
}

/**
 * CORS for the ERP's own frontends only. An allowed origin gets its exact origin echoed back with
 * credentials; any other origin (including the opaque `null` of sandboxed frames and file: pages)
 * gets no CORS headers at all, so the browser withholds the response from the calling page.
 * Requests without an Origin header (same-origin, server-to-server) pass untouched.
 */
export function corsPolicy(opts: CorsPolicyOptions): RequestHandler {
  const allowed = new Set(opts.allowedOrigins.map(validateAllowedOrigin));
  const maxAgeSeconds = opts.maxAgeSeconds ?? DEFAULT_CORS_MAX_AGE_SECONDS;

  const corsForAllowedOrigins = cors({
    // Second line of defence: the gate below already let only allow-listed origins through.
    // Echo the checked string, never `true`, so nothing unvetted is ever reflected.
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    credentials: true,
    methods: [...CORS_ALLOWED_METHODS],
    allowedHeaders: [...CORS_ALLOWED_HEADERS],
    exposedHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: maxAgeSeconds,
    preflightContinue: false,
    optionsSuccessStatus: 204,
  });

  return (req, res, next) => {
    // Responses differ by Origin, so shared caches must key on it even when this request had none.
    res.vary('Origin');
    const origin = req.headers.origin;
    if (origin === undefined) {
      next();
      return;
    }
    if (allowed.has(origin)) {
      corsForAllowedOrigins(req, res, next);
      return;
    }
    const preflight = isPreflight(req.method, req.headers['access-control-request-method']);
    opts.logger.warn(
      { origin, method: req.method, path: req.path, preflight },
      'cross-origin request from an origin that is not allowed',
    );
    if (preflight) {
      // A preflight exists only to ask for CORS permission; answer it here instead of letting it reach routes.
      next(AppError.forbidden('Cross-origin requests from this origin are not allowed.'));
      return;
    }
    // The request itself proceeds (same as a non-browser client would); without CORS headers
    // the browser will not hand the response to the foreign page.
    next();
  };
}
