import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { runWithRequestContext } from '../lib/request-context';

export const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id: the caller's X-Request-Id when it is well-formed (so a
 * frontend or nginx can correlate), else a fresh UUID. The rest of the request runs
 * inside an AsyncLocalStorage context carrying it, so every log line has it.
 */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming && VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    runWithRequestContext({ requestId: id, ip: req.ip, userAgent: req.get('user-agent') }, () => next());
  };
}
