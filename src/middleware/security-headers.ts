import type { RequestHandler } from 'express';
import helmet from 'helmet';

export interface SecurityHeadersOptions {
  /** Send Strict-Transport-Security. Only where the API is served over HTTPS (production behind nginx). */
  hsts: boolean;
  /** Add `preload` to HSTS. Only once the domain is (to be) submitted to the browsers' preload list. */
  hstsPreload: boolean;
}

const ONE_YEAR_SECONDS = 365 * 24 * 60 * 60;

/**
 * Powerful browser features the API never needs. A JSON API is not a document, but a response
 * that ends up rendered (an error page opened in a tab, a proxy that sniffs) must not get any of them.
 * Only features browsers recognise, so consoles stay free of "unrecognized feature" noise.
 */
export const DENIED_BROWSER_FEATURES: readonly string[] = [
  'accelerometer',
  'autoplay',
  'bluetooth',
  'browsing-topics',
  'camera',
  'display-capture',
  'encrypted-media',
  'fullscreen',
  'geolocation',
  'gyroscope',
  'hid',
  'idle-detection',
  'magnetometer',
  'microphone',
  'midi',
  'payment',
  'picture-in-picture',
  'publickey-credentials-get',
  'screen-wake-lock',
  'serial',
  'usb',
  'xr-spatial-tracking',
];

export const PERMISSIONS_POLICY = DENIED_BROWSER_FEATURES.map((feature) => `${feature}=()`).join(', ');

/**
 * Response headers that make browsers treat every answer of this JSON API as inert data:
 * nothing may be framed, scripted, embedded cross-origin or sniffed into another type.
 * Mount first, before any route or error handler, so 404s, 429s and problem+json errors carry them too.
 */
export function securityHeaders(opts: SecurityHeadersOptions): RequestHandler[] {
  const headers = securityHeaderList(opts);
  // Helmet's values never vary per request: computed once, each response gets them in one pass.
  const setSecurityHeaders: RequestHandler = (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    // Express sets it at request start unless the app disabled it; the framework is nobody's business.
    res.removeHeader('X-Powered-By');
    next();
  };
  return [setSecurityHeaders];
}

/** Every security header a response gets, as [name, value] pairs (helmet's, computed once, and Permissions-Policy). */
export function securityHeaderList(opts: SecurityHeadersOptions): Array<[string, string | string[]]> {
  const helmetHeaders = helmet({
    // The API serves no HTML, scripts or styles, so nothing may load, frame, or be submitted from its responses.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
      },
    },
    strictTransportSecurity: opts.hsts
      ? { maxAge: ONE_YEAR_SECONDS, includeSubDomains: true, preload: opts.hstsPreload }
      : false,
    xFrameOptions: { action: 'deny' },
    xContentTypeOptions: true,
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: { policy: 'require-corp' },
    originAgentCluster: true,
    // Modern browsers ignore the header; `0` switches off the legacy auditor, which itself enabled XS-leaks.
    xXssProtection: true,
    xDnsPrefetchControl: { allow: false },
    xDownloadOptions: true,
    xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
    xPoweredBy: true,
  });

  const headers = staticHeadersOf(helmetHeaders as RequestHandler);
  headers.push(['Permissions-Policy', PERMISSIONS_POLICY]);
  return headers;
}

/**
 * The headers a middleware that only sets fixed headers (helmet) sets, captured by running it
 * once against a recording response. Fails at startup if it does anything else.
 */
export function staticHeadersOf(mw: RequestHandler): Array<[string, string | string[]]> {
  const headers = new Map<string, [string, string | string[]]>();
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.set(name.toLowerCase(), [name, typeof value === 'number' ? String(value) : (value as string | string[])]);
      return recorder;
    },
    removeHeader(name: string) {
      headers.delete(name.toLowerCase());
    },
    getHeader(name: string) {
      return headers.get(name.toLowerCase())?.[1];
    },
  };
  let called = false;
  mw(
    { method: 'GET', headers: {}, url: '/' } as never,
    recorder as never,
    ((err?: unknown) => {
      if (err) throw err as Error;
      called = true;
    }) as never,
  );
  if (!called) throw new Error('security headers middleware did not finish synchronously');
  return [...headers.values()];
}

/**
 * Forbids every cache (browser, proxy, CDN) from storing the response. For every authenticated
 * and auth-related route: tokens, personal data and account state must not outlive the response.
 * `Pragma` covers HTTP/1.0 caches that ignore Cache-Control.
 */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  next();
};
