import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import request from 'supertest';
import { composeMiddleware } from '../../src/middleware/compose';

/** An app whose one layer is the composed chain, answering what ran and which error arrived. */
function appOf(steps: RequestHandler[]): express.Express {
  const app = express();
  app.use((_req, res, next) => {
    res.locals.ran = [];
    next();
  });
  app.use(composeMiddleware(steps));
  app.get('/', (_req, res) => {
    res.json({ ran: res.locals.ran as string[] });
  });
  const onError: ErrorRequestHandler = (err: Error, _req, res, _next) => {
    res.status(500).json({ ran: res.locals.ran as string[], error: err.message });
  };
  app.use(onError);
  return app;
}

const step =
  (name: string): RequestHandler =>
  (_req, res, next) => {
    (res.locals.ran as string[]).push(name);
    next();
  };

describe('composeMiddleware', () => {
  it('when every step calls next, then they run in order and the request reaches the route', async () => {
    const res = await request(appOf([step('a'), step('b'), step('c')])).get('/');
    expect(res.body).toEqual({ ran: ['a', 'b', 'c'] });
  });

  it('when a step throws, rejects or passes an error, then the rest are skipped and the error handler gets it', async () => {
    const thrown: RequestHandler = () => {
      throw new Error('thrown');
    };
    const rejected: RequestHandler = async () => {
      await Promise.resolve();
      throw new Error('rejected');
    };
    const passed: RequestHandler = (_req, _res, next) => next(new Error('passed'));
    for (const [failing, message] of [
      [thrown, 'thrown'],
      [rejected, 'rejected'],
      [passed, 'passed'],
    ] as const) {
      const res = await request(appOf([step('a'), failing, step('never')])).get('/');
      expect(res.body).toEqual({ ran: ['a'], error: message });
    }
  });

  it('when an async step calls next after awaiting, then the chain continues from there', async () => {
    const later: RequestHandler = async (_req, res, next) => {
      await new Promise((r) => setImmediate(r));
      (res.locals.ran as string[]).push('later');
      next();
    };
    const res = await request(appOf([step('a'), later, step('b')])).get('/');
    expect(res.body).toEqual({ ran: ['a', 'later', 'b'] });
  });
});
