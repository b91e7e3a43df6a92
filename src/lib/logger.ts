import pino, { type Logger, type DestinationStream } from 'pino';
import { currentRequestContext } from './request-context';

export type { Logger };

/**
 * Every path whose value must never reach a log line. Listed once, here (query-string
 * parameters below, applied to every logged `req.url`).
 * Wildcards cover nested bodies and error objects that carry request data.
 */
export const REDACTED_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.body.code',
  'body.code',
  '*.otp',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.mfaToken',
  '*.secret',
  '*.apiKey',
  '*.key',
  '*.keys',
  '*.backupCodes',
  '*.authorization',
  'password',
  'token',
  'secret',
  'apiKey',
];

/**
 * Query-string parameters whose values never reach a log line (compared case-insensitively):
 * clients and proxies put credentials there even though this API never reads them.
 */
export const REDACTED_QUERY_PARAMS: readonly string[] = [
  'access_token',
  'token',
  'api_key',
  'apikey',
  'key',
  'password',
  'code',
  'refresh_token',
  'id_token',
  'mfatoken',
  'secret',
  'signature',
  'sig',
];

const sensitiveParam = new Set(REDACTED_QUERY_PARAMS);
const CENSOR = '[REDACTED]';

/** `url` (a request target or absolute URL) with the value of every sensitive query parameter censored. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      let name: string;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        name = rawName;
      }
      return sensitiveParam.has(name.trim().toLowerCase()) ? `${rawName}=${CENSOR}` : pair;
    })
    .join('&');
  return `${url.slice(0, q + 1)}${redacted}${hash < 0 ? '' : url.slice(hash)}`;
}

/** The `req` of any log line: its URL and Referer lose sensitive query values (headers are redacted by path). */
function serializeReq(req: unknown): unknown {
  if (!req || typeof req !== 'object') return req;
  const r = req as { url?: unknown; headers?: Record<string, unknown> };
  const out: Record<string, unknown> = { ...(req as Record<string, unknown>) };
  if (typeof r.url === 'string') out.url = redactUrl(r.url);
  if (r.headers && typeof r.headers.referer === 'string')
    out.headers = { ...r.headers, referer: redactUrl(r.headers.referer) };
  return out;
}

/** The header paths of REDACTED_PATHS. */
export const REDACTED_HEADER_PATHS: readonly string[] = REDACTED_PATHS.filter((p) => p.startsWith('req.headers'));

/**
 * The logger the access log writes with (src/middleware/http-logger.ts): same destination,
 * serializers (URL and Referer censoring) and request id, but only the header paths redacted.
 * Its line has a fixed shape (method, URL, allow-listed headers, address, status, time) that no
 * other path can match, and matching all of them, most wildcards, on every request cost about
 * 5 % of an authenticated GET's CPU.
 */
export function accessLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: [...REDACTED_HEADER_PATHS], censor: CENSOR } });
}

export interface LoggerOptions {
  level: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'erp-backend' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACTED_PATHS], censor: CENSOR },
      serializers: { req: serializeReq },
      // The request id of the request being served joins every line logged while serving it.
      mixin() {
        const ctx = currentRequestContext();
        return ctx ? { requestId: ctx.requestId } : {};
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}
