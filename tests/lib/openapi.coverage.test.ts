import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import { runTs } from '../support/process';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { appRoutes, buildOpenApiDocument, documentDrift, type JsonSchema } from '../../src/lib/openapi';
import { route } from '../../src/middleware/validate';
import { VERSION } from '../../src/lib/version';

const committed = (): JsonSchema =>
  JSON.parse(readFileSync(path.resolve(__dirname, '../../docs/openapi.json'), 'utf8')) as JsonSchema;

type Operations = Record<string, Record<string, JsonSchema>>;

describe('the OpenAPI document covers every route', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
  });
  afterAll(() => t.close());

  it('when the committed docs/openapi.json is validated by swagger-parser, then it is a valid OpenAPI 3.1 document', async () => {
    const run = runTs('scripts/validate-openapi.ts', {});
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toMatch(/valid OpenAPI 3\.1\.0, \d{2,} operations/);
  });

  it('when a document is broken, then the validator exits 1 naming the problem', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'openapi-'));
    try {
      const broken = committed();
      delete (broken.info as Record<string, unknown>).version;
      const file = path.join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(broken));
      const run = runTs('scripts/validate-openapi.ts', {}, [file]);
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toContain("must have required property 'version'");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('when the app is walked, then every route is in the committed document with its permission, and nothing else is', () => {
    const routes = appRoutes(t.app);
    expect(routes.length).toBeGreaterThan(60);
    expect(documentDrift(t.app, committed())).toEqual([]);
    // Spot checks that the walk reads what the middleware says.
    const paths = committed().paths as Operations;
    expect(paths['/api/v1/invoices/{id}/pay'].post['x-permission']).toBe('invoice:pay');
    expect(paths['/api/v1/invoices/{id}/pay'].post.security).toEqual([{ bearerAuth: [] }, { apiKey: [] }]);
    expect(paths['/api/v1/auth/me'].get.security).toEqual([{ bearerAuth: [] }, { apiKey: [] }]);
    expect(paths['/api/v1/auth/login'].post.security).toEqual([]);
    expect(paths['/api/v1/invoices'].get.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'status', in: 'query', required: false })]),
    );
    expect(paths['/api/v1/employees/{id}'].get.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
    ]);
  });

  it('when the document is generated from the test app, then it equals the committed one (npm run openapi is up to date)', () => {
    expect(buildOpenApiDocument(t.app, { version: VERSION })).toEqual(committed());
  });

  it('when a route is added that the document lacks, or one without route(), then the drift check names it', () => {
    const app = express();
    const router = express.Router();
    router.get(
      '/',
      route({}, () => undefined),
    );
    router.post('/undocumented', (_req, res) => void res.end());
    app.use('/api/v1/extra', router);
    const doc = buildOpenApiDocument(app, { version: VERSION });
    expect(documentDrift(app, doc)).toEqual([
      'POST /api/v1/extra/undocumented: handler not built by route() or describeRoute()',
    ]);
    router.delete(
      '/:id',
      route({}, () => undefined),
    );
    expect(documentDrift(app, doc)).toEqual([
      'POST /api/v1/extra/undocumented: handler not built by route() or describeRoute()',
      'DELETE /api/v1/extra/{id}: not in the document',
    ]);
    const patterned = express();
    patterned.use(['/a', '/b'], router);
    expect(() => appRoutes(patterned)).toThrow(/non-string path/);
    expect(documentDrift(express(), doc)).toEqual([
      'GET /api/v1/extra: not served',
      'POST /api/v1/extra/undocumented: not served',
    ]);
  });
});
