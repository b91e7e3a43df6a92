import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import mongoose from 'mongoose';
import { AppError, PersistenceError, type ValidationIssue } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { isRedisUnavailable } from '../lib/redis';
import { isDatabaseBusy, isDatabaseUnreachable } from '../lib/database-errors';

/** body-parser errors carry a `type` and `status`; map them to the problems a client can act on. */
interface HttpParserError extends Error {
  type?: string;
  status?: number;
  expose?: boolean;
}

export function zodIssues(err: ZodError, prefix = ''): ValidationIssue[] {
  return err.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || prefix || '(root)',
    message: i.message,
  }));
}

/** Turns anything thrown into an AppError; unknown errors become a 500 without internals. */
export function toAppError(err: unknown): AppError {
  // MongoDB down (stopped, failing over, unreachable), however wrapped: the client may retry, it is no bug.
  if (!(err instanceof AppError && err.operational) && isDatabaseBusy(err))
    return AppError.serviceUnavailable('The database is busy; try again shortly.', err, 2);
  if (!(err instanceof AppError && err.operational) && isDatabaseUnreachable(err))
    return AppError.serviceUnavailable('The database is temporarily unavailable; try again shortly.', err, 5);
  // A non-operational AppError (e.g. stored data that fails to decrypt) is an internal
  // fault: the client learns nothing about which one.
  if (err instanceof AppError) return err.operational ? err : AppError.internal(err);
  // A data-layer refusal is a bug in the calling code, never the client's input: a 500.
  if (err instanceof PersistenceError) return AppError.internal(err);
  if (err instanceof ZodError) return AppError.validation('The request is not valid.', zodIssues(err));
  // Redis lost mid-request (restart, Sentinel failover): the client may retry shortly.
  if (isRedisUnavailable(err))
    return AppError.serviceUnavailable('This action is temporarily unavailable; try again shortly.', err, 5);
  if (err instanceof mongoose.Error.CastError) return AppError.badRequest(`Invalid value for ${err.path}.`);
  if (err instanceof mongoose.Error.ValidationError) {
    return AppError.validation(
      'The request is not valid.',
      Object.values(err.errors).map((e) => ({ path: e.path, message: e.message })),
    );
  }
  if (err && typeof err === 'object' && (err as { code?: unknown }).code === 11000) {
    return AppError.conflict('A record with the same unique value already exists.', 'duplicate');
  }
  // The router's decodeURIComponent of a path parameter (`/employees/%ZZ`): the client's URL is wrong.
  if (err instanceof URIError) {
    return new AppError({
      code: 'malformed-url',
      status: 400,
      title: 'Bad Request',
      detail: 'The request URL contains an invalid percent-encoding.',
    });
  }
  const perr = err as HttpParserError;
  switch (perr?.type) {
    case 'entity.parse.failed':
      return new AppError({
        code: 'malformed-json',
        status: 400,
        title: 'Malformed JSON',
        detail: 'The request body is not valid JSON.',
      });
    case 'entity.too.large':
      return new AppError({
        code: 'payload-too-large',
        status: 413,
        title: 'Payload Too Large',
        detail: 'The request body is larger than this API accepts.',
      });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError({
        code: 'unsupported-media-type',
        status: 415,
        title: 'Unsupported Media Type',
        detail: 'The body encoding or charset is not supported.',
      });
    case 'request.aborted':
      return new AppError({
        code: 'request-aborted',
        status: 400,
        title: 'Request Aborted',
        detail: 'The client aborted the request.',
      });
    default:
      break;
  }
  if (perr && typeof perr.status === 'number' && perr.status >= 400 && perr.status < 500 && perr.expose) {
    return new AppError({
      code: 'bad-request',
      status: perr.status,
      title: 'Bad Request',
      detail: perr.message,
      cause: err,
    });
  }
  return AppError.internal(err);
}

export function sendProblem(req: Request, res: Response, error: AppError): void {
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res
    .status(error.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: error.type,
        title: error.title,
        status: error.status,
        ...(error.detail !== undefined ? { detail: error.detail } : {}),
        instance: req.originalUrl.split('?')[0],
        requestId: res.locals.requestId,
        ...error.extensions,
      }),
    );
}

export function notFound(): RequestHandler {
  return (req, _res, next) => next(AppError.notFound(`No route for ${req.method} ${req.path}.`));
}

/** The one error handler: every error leaves as RFC 9457 problem+json, never with a stack. */
export function errorHandler(logger: Logger, onInternalError?: () => void): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    const error = toAppError(err);
    // Unexpected faults only (a 502/503 of a known outage is alerted by its own source).
    if (error.status === 500) onInternalError?.();
    if (error.status >= 500) {
      const code = err instanceof AppError || err instanceof PersistenceError ? err.code : error.code;
      logger.error({ err: err instanceof Error ? err : { value: String(err) }, code }, 'request failed');
    } else {
      logger.debug({ code: error.code, status: error.status }, 'request rejected');
    }
    if (res.headersSent) return next(err);
    sendProblem(req, res, error);
  };
}
