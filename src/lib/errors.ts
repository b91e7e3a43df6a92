/**
 * The one error type of the application. Every failure that reaches a client is
 * an AppError (or is turned into one by the error middleware) and is answered as
 * RFC 9457 application/problem+json.
 */
export interface AppErrorOptions {
  /** Machine-readable code, also the last segment of the problem `type` URI. */
  code: string;
  status: number;
  /** Short, human-readable summary of the problem type. */
  title: string;
  /** Human-readable explanation specific to this occurrence. Safe to show to clients. */
  detail?: string;
  /** Extra members of the problem document (e.g. `errors`, `field`). Never secrets. */
  extensions?: Record<string, unknown>;
  /** Headers the response must carry (e.g. Retry-After, Allow). */
  headers?: Record<string, string>;
  /** Expected, handled conditions are operational; programmer errors are not. */
  operational?: boolean;
  cause?: unknown;
}

export const PROBLEM_TYPE_BASE = 'https://erp-backend.dev/problems/';

export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail?: string;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;
  readonly operational: boolean;

  constructor(opts: AppErrorOptions) {
    super(opts.detail ?? opts.title, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = opts.code;
    this.status = opts.status;
    this.title = opts.title;
    this.detail = opts.detail;
    this.extensions = opts.extensions ?? {};
    this.headers = opts.headers ?? {};
    this.operational = opts.operational ?? true;
  }

  get type(): string {
    return PROBLEM_TYPE_BASE + this.code;
  }

  static badRequest(detail: string, extensions?: Record<string, unknown>): AppError {
    return new AppError({ code: 'bad-request', status: 400, title: 'Bad Request', detail, extensions });
  }

  static validation(detail: string, errors: ValidationIssue[]): AppError {
    return new AppError({
      code: 'validation-failed',
      status: 400,
      title: 'Validation Failed',
      detail,
      extensions: { errors },
    });
  }

  static unauthorized(detail = 'Authentication is required.', code = 'unauthorized'): AppError {
    return new AppError({ code, status: 401, title: 'Unauthorized', detail });
  }

  static forbidden(
    detail = 'You do not have permission to perform this action.',
    extensions?: Record<string, unknown>,
  ): AppError {
    return new AppError({ code: 'forbidden', status: 403, title: 'Forbidden', detail, extensions });
  }

  static notFound(detail = 'The requested resource was not found.'): AppError {
    return new AppError({ code: 'not-found', status: 404, title: 'Not Found', detail });
  }

  static conflict(detail: string, code = 'conflict'): AppError {
    return new AppError({ code, status: 409, title: 'Conflict', detail });
  }

  /** The request's If-Match names a version the record no longer has (RFC 9110 §13.1.1). */
  static preconditionFailed(detail: string): AppError {
    return new AppError({ code: 'precondition-failed', status: 412, title: 'Precondition Failed', detail });
  }

  static tooManyRequests(detail: string, retryAfterSeconds: number): AppError {
    return new AppError({
      code: 'rate-limited',
      status: 429,
      title: 'Too Many Requests',
      detail,
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }

  static serviceUnavailable(detail: string, cause?: unknown, retryAfterSeconds?: number): AppError {
    return new AppError({
      code: 'service-unavailable',
      status: 503,
      title: 'Service Unavailable',
      detail,
      cause,
      ...(retryAfterSeconds === undefined
        ? {}
        : { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) } }),
    });
  }

  static badGateway(detail: string, cause?: unknown): AppError {
    return new AppError({ code: 'bad-gateway', status: 502, title: 'Bad Gateway', detail, cause });
  }

  static internal(cause?: unknown): AppError {
    return new AppError({
      code: 'internal-error',
      status: 500,
      title: 'Internal Server Error',
      detail: 'An unexpected error occurred.',
      operational: false,
      cause,
    });
  }
}

export interface ValidationIssue {
  /** Where the problem is: `body.email`, `query.page`, `params.id`. */
  path: string;
  message: string;
}

/**
 * A refusal by the data layer: code asked persistence for something it cannot do safely
 * (a query the field-encryption plugin cannot serve, a write path that would bypass
 * encryption). Deliberately not an AppError: it carries no HTTP status, because it is a
 * bug in the calling service (which must validate client input before building a query),
 * not something a client can fix. The error handler answers it as a generic 500 and logs
 * its code.
 */
export class PersistenceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PersistenceError';
  }
}

/** A filter over an encrypted field that cannot be answered (a range, a regex, a condition inside $and/$or/$nor). */
export class EncryptedFieldQueryError extends PersistenceError {
  constructor(message: string) {
    super('encrypted-field-query', message);
    this.name = 'EncryptedFieldQueryError';
  }
}
