import type { NextFunction, RequestHandler } from 'express';

/**
 * Several middleware as one router layer. They run in order, as separate `app.use` calls
 * would: an error (thrown, a rejected promise, or passed to `next`) skips the rest and goes to
 * Express's error handling. Every request walks the global chain, and the router's per-layer
 * work (path match, prefix trimming, its loop) is paid once for the group instead of per step.
 * For middleware mounted on the same path only (no `next('route')`, no error handlers).
 */
export function composeMiddleware(handlers: readonly RequestHandler[]): RequestHandler {
  const chain = [...handlers];
  return (req, res, next) => {
    let i = 0;
    const step = (err?: unknown): void => {
      // Falsy values continue, as in Express's router.
      if (err) {
        next(err);
        return;
      }
      const fn = chain[i++];
      if (!fn) {
        next();
        return;
      }
      try {
        const ret = fn(req, res, step as NextFunction) as unknown;
        if (isThenable(ret)) ret.then(undefined, (e: unknown) => next(e || new Error('Rejected promise')));
      } catch (e) {
        next(e);
      }
    };
    step();
  };
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
