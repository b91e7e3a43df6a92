import type { RequestHandler } from 'express';
import type { Logger } from '../lib/logger';

/**
 * One access-log line per request when it finishes, at a level from the status (5xx
 * error, 4xx warn, else info). Written by hand rather than with pino-http: the request
 * id already comes from AsyncLocalStorage, and this costs nothing when the level is off.
 * Headers and the URL's query string pass through the logger's redaction (authorization,
 * cookies, API keys; `?access_token=`, `?password=` and the other REDACTED_QUERY_PARAMS).
 */
export function httpLogger(logger: Logger): RequestHandler {
  return (req, res, next) => {
    if (req.path === '/health/live') return next();
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const status = res.statusCode;
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        {
          req: { method: req.method, url: req.originalUrl, headers: req.headers, remoteAddress: req.ip },
          res: { statusCode: status },
          requestId: res.locals.requestId as string | undefined,
          responseTime: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'request completed',
      );
    });
    next();
  };
}
