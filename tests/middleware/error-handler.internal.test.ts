import express, { type Express } from 'express';
import request from 'supertest';
import { expectGeneric500 } from '../support/problems';
import { createLogger, type Logger } from '../../src/lib/logger';
import { AppError } from '../../src/lib/errors';
import { requestId } from '../../src/middleware/request-id';
import { httpLogger } from '../../src/middleware/http-logger';
import { errorHandler, notFound } from '../../src/middleware/error-handler';
import { LogCapture } from '../support/app';

/** What an internal fault carries: none of it may reach the client. */
const INTERNAL = 'connection to db-primary.internal:27017 lost; password=hunter2-internal';

/**
 * The app's error path on its own: the same request-id, access-log and error-handler
 * middleware createApp mounts, around routes that fail in the ways real code does.
 */
function buildApp(logger: Logger): Express {
  const app = express();
  app.use(requestId());
  app.use(httpLogger(logger));
  app.get('/sync-throw', () => {
    throw new Error(INTERNAL);
  });
  app.get('/async-reject', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    // A programming error deep in a service: a TypeError from undefined.
    const missing = undefined as unknown as { read(): string };
    return missing.read();
  });
  app.get('/throw-string', () => {
    throw INTERNAL;
  });
  app.get('/non-operational', () => {
    throw new AppError({
      code: 'decryption-failed',
      status: 500,
      title: 'Decryption Failed',
      detail: INTERNAL,
      operational: false,
    });
  });
  app.get('/service-logs', (_req, res) => {
    // A service writing through the shared logger while serving the request.
    logger.info({ step: 'inside-service' }, 'service did some work');
    res.json({ ok: true });
  });
  app.use(notFound());
  app.use(errorHandler(logger));
  return app;
}

describe('error handler on its own (unexpected failures)', () => {
  let logs: LogCapture;
  let logger: Logger;
  let app: Express;

  beforeEach(() => {
    logs = new LogCapture();
    logger = createLogger({ level: 'debug', destination: logs });
    app = buildApp(logger);
  });

  const INTERNALS = /hunter2|db-primary|27017|TypeError|read|stack|at \S+ \(|\.ts:\d+|node_modules|decryption/i;

  it.each(['/sync-throw', '/async-reject', '/throw-string', '/non-operational'])(
    'when %s fails unexpectedly, then 500 problem+json with a generic detail, no stack and no internal message',
    async (path) => {
      const res = await request(app).get(path);
      expectGeneric500(res, path, INTERNALS);
    },
  );

  it('when a route throws, then the operator log has the real error under the same request id as the X-Request-Id header', async () => {
    const res = await request(app).get('/sync-throw');
    expectGeneric500(res, '/sync-throw', INTERNALS);
    const id = res.headers['x-request-id'] as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    logger.flush();
    const failed = logs.records().find((r) => r.msg === 'request failed');
    expect(failed).toMatchObject({ level: 'error', requestId: id, code: 'internal-error' });
    expect(JSON.stringify(failed)).toContain('db-primary.internal');
    const access = logs.records().find((r) => r.msg === 'request completed');
    expect(access).toMatchObject({ level: 'error', requestId: id, res: { statusCode: 500 } });
  });

  it('when a service logs through the shared logger inside a request, then its line carries the request id the response header names', async () => {
    const a = await request(app).get('/service-logs');
    const b = await request(app).get('/service-logs').set('X-Request-Id', 'caller-chosen-id.42');
    expect(a.status).toBe(200);
    expect(b.headers['x-request-id']).toBe('caller-chosen-id.42');
    logger.flush();
    const serviceLines = logs.records().filter((r) => r.msg === 'service did some work');
    expect(serviceLines.map((r) => r.requestId)).toEqual([a.headers['x-request-id'], 'caller-chosen-id.42']);
    // Outside any request there is no id to carry.
    logger.info('outside a request');
    logger.flush();
    expect(logs.records().find((r) => r.msg === 'outside a request')).not.toHaveProperty('requestId');
  });
});
