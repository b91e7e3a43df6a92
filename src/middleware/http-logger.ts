import type { IncomingMessage, ServerResponse } from 'node:http';
import { pinoHttp } from 'pino-http';
import type { RequestHandler } from 'express';
import type { Logger } from '../lib/logger';

/** One access-log line per request; level from the status, secrets redacted by the logger. */
export function httpLogger(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    genReqId: (_req: IncomingMessage, res: ServerResponse) => String((res as ServerResponse & { locals?: { requestId?: string } }).locals?.requestId ?? ''),
    customLogLevel: (_req, res, err) => {
      if (err || res.statusCode >= 500) return 'error';
      if (res.statusCode >= 400) return 'warn';
      return 'info';
    },
    // The mixin already adds requestId; keep the req object small.
    serializers: {
      req: (req: { method: string; url: string; headers: Record<string, unknown>; remoteAddress?: string }) => ({
        method: req.method,
        url: req.url,
        headers: req.headers,
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    autoLogging: { ignore: (req) => req.url === '/health/live' },
  }) as unknown as RequestHandler;
}
