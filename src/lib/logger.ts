import pino, { type Logger, type DestinationStream } from 'pino';
import { currentRequestContext } from './request-context';

export type { Logger };

/**
 * Every path whose value must never reach a log line. Listed once, here.
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
      redact: { paths: [...REDACTED_PATHS], censor: '[REDACTED]' },
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
