import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { AppMetrics } from '../services/health/metrics';
import { VALID_REQUEST_ID } from './request-id';

export const LIVENESS_PATH = '/health/live';
const BODY = JSON.stringify({ status: 'pass' });

export interface LivenessOptions {
  securityHeaders: ReadonlyArray<[string, string | string[]]>;
  metrics: AppMetrics;
}

/**
 * `GET /health/live` answered before the middleware chain: load balancers poll it many times
 * a second, and it must answer even when the process is busy. Same answer, headers and metric
 * as the routed handler (GET /health/live in health.routes.ts), built once: the security
 * headers, no-store, `Vary: Origin`, a request id. Cross-origin requests (an Origin header),
 * other methods and query strings take the regular path: the answer is false, nothing was sent.
 * Works on Node's own request and response, so the listening server can ask it before Express.
 */
export function answerLiveness(opts: LivenessOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const fixed: Array<[string, string | string[]]> = [
    ...opts.securityHeaders,
    ['Vary', 'Origin'],
    ['Cache-Control', 'no-store'],
    ['Content-Type', 'application/health+json; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(BODY))],
  ];
  return (req, res) => {
    if (req.url !== LIVENESS_PATH || req.method !== 'GET' || req.headers.origin !== undefined) return false;
    const started = process.hrtime.bigint();
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    for (const [name, value] of fixed) res.setHeader(name, value);
    res.setHeader('X-Request-Id', id);
    res.removeHeader('X-Powered-By');
    res.statusCode = 200;
    res.end(BODY);
    opts.metrics.observeHttp('GET', LIVENESS_PATH, 200, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };
}

/** The liveness answer as the app's first middleware (createApp), for a server that does not ask it first. */
export function livenessFastPath(opts: LivenessOptions): RequestHandler {
  const answer = answerLiveness(opts);
  return (req, res, next) => {
    if (!answer(req, res)) next();
  };
}

/**
 * `app` with the liveness answer asked first (src/server.ts): a probe then costs none of
 * Express's per-request setup (request and response prototypes, the router), only its answer.
 */
export function withLivenessAnswer(app: RequestListener, opts: LivenessOptions): RequestListener {
  const answer = answerLiveness(opts);
  return (req, res) => {
    if (!answer(req, res)) app(req, res);
  };
}
