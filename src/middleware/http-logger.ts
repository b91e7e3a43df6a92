import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';
import { accessLogger, type Logger } from '../lib/logger';
import type { AppMetrics } from '../services/health/metrics';
import { routeLabel } from '../services/health/metrics';
import { LIVENESS_PATH } from './liveness';

/**
 * The only request headers an access-log line carries. An allow-list rather than every
 * header through redaction: a credential in a header nobody thought of (a new SSO proxy's
 * `X-Auth-Session`, a vendor's token header) is never logged, and the line stays small.
 * The Referer's query string still passes the logger's URL redaction (src/lib/logger.ts).
 */
export const LOGGED_REQUEST_HEADERS: readonly string[] = [
  'host',
  'user-agent',
  'referer',
  'origin',
  'accept',
  'content-type',
  'content-length',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-request-id',
];

/** The allow-listed headers `headers` has, in the list's order. */
export function loggedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of LOGGED_REQUEST_HEADERS) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * One access-log line per request when it finishes, at a level from the status (5xx
 * error, 4xx warn, else info), and, when `metrics` is given, the request's duration metric,
 * both from one 'finish' listener and one start time. Written by hand rather than with
 * pino-http: the request id already comes from AsyncLocalStorage, and the line costs nothing
 * when the level is off. Headers are an allow-list (LOGGED_REQUEST_HEADERS); the URL's query
 * string passes the logger's redaction (`?access_token=`, `?password=`, REDACTED_QUERY_PARAMS),
 * and the header paths stay redacted as a second line (accessLogger).
 * `/health/live` is counted but not logged (probes poll it many times a second).
 */
export function httpLogger(logger: Logger, opts: { metrics?: AppMetrics } = {}): RequestHandler {
  const { metrics } = opts;
  const log = accessLogger(logger);
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const status = res.statusCode;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      metrics?.observeHttp(req.method, routeLabel(req), status, ms / 1e3);
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
      if (!log.isLevelEnabled(level) || req.path === LIVENESS_PATH) return;
      log[level](
        {
          req: { method: req.method, url: req.originalUrl, headers: loggedHeaders(req.headers), remoteAddress: req.ip },
          res: { statusCode: status },
          requestId: res.locals.requestId as string | undefined,
          responseTime: ms,
        },
        'request completed',
      );
    });
    next();
  };
}
