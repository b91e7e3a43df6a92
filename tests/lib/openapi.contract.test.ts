import { readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
// OpenAPI 3.1 schemas are JSON Schema 2020-12.
import Ajv2020 from 'ajv/dist/2020';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { bearer, createUser, mfaSession } from '../support/users';
import type { JsonSchema } from '../../src/lib/openapi';

type Operation = JsonSchema & {
  security: unknown[];
  responses: Record<string, JsonSchema>;
  'x-example-request'?: {
    params?: Record<string, string>;
    query?: Record<string, string>;
    body?: unknown;
    status: number;
  };
};

const document = JSON.parse(readFileSync(path.resolve(__dirname, '../../docs/openapi.json'), 'utf8')) as JsonSchema & {
  paths: Record<string, Record<string, Operation>>;
};

/** Every operation of the committed document that documents an example request. */
const examples = Object.entries(document.paths).flatMap(([p, operations]) =>
  Object.entries(operations)
    .filter(([, op]) => op['x-example-request'])
    .map(([method, op]) => ({ method, path: p, op, example: op['x-example-request']! })),
);

/** Thresholds a busy shared test machine stays under, so /health answers 200 as its example documents. */
const CALM_HOST = {
  HEALTH_CPU_LOAD_PER_CORE: '1000/2000',
  HEALTH_EVENT_LOOP_DELAY_MS: '10000/20000',
  HEALTH_MEMORY_PERCENT: '99/100',
  HEALTH_DISK_PERCENT: '99/100',
  HEALTH_DB_LATENCY_MS: '10000/20000',
  HEALTH_REDIS_LATENCY_MS: '10000/20000',
  HEALTH_SAMPLE_INTERVAL_MS: '3600000',
};

describe('contract: documented example requests against the real app', () => {
  let t: TestApp;
  let adminToken: string;
  const ajv = new Ajv2020({ allErrors: true, strict: false });

  beforeAll(async () => {
    t = await buildTestApp(__filename, { ...ROUTE_TEST_ENV, ...CALM_HOST });
    adminToken = await mfaSession(t, await createUser(t, 'docs.admin@erp.example', 'admin', 'sales'));
    // The login example signs in as this user.
    await createUser(t, 'docs.example@erp.example', 'user', 'sales', 'Correct-Horse-Battery-9');
    // The list example then has an invoice to describe.
    const created = await request(t.app)
      .post('/api/v1/invoices')
      .set(...bearer(adminToken))
      .send({ number: 'DOC-1', customer: 'Example Ltd', amount: 12_500, currency: 'EUR', department: 'sales' });
    expect(created.status).toBe(201);
  });
  afterAll(() => t.close());

  it('when the document is read, then the representative routes carry example requests', () => {
    expect(examples.map((e) => `${e.method.toUpperCase()} ${e.path}`)).toEqual(
      expect.arrayContaining([
        'POST /api/v1/auth/login',
        'GET /api/v1/invoices',
        'POST /api/v1/employees',
        'GET /health',
      ]),
    );
  });

  it.each(examples.map((e) => [`${e.method.toUpperCase()} ${e.path}`, e] as const))(
    'when the example of %s is sent, then the status and body match the documented response',
    async (_name, { method, path: template, op, example }) => {
      const url = template.replace(/\{(\w+)\}/g, (_m, name: string) =>
        encodeURIComponent(example.params?.[name] ?? ''),
      );
      const verb = method as 'get' | 'post' | 'put' | 'patch' | 'delete';
      let req = request(t.app)
        [verb](url)
        .query(example.query ?? {});
      if (op.security.length) req = req.set(...bearer(adminToken));
      const res = example.body === undefined ? await req : await req.send(example.body as object);

      expect(res.status).toBe(example.status);
      const documented = op.responses[String(example.status)] as { content: Record<string, { schema: JsonSchema }> };
      expect(documented).toBeDefined();
      const contentType = String(res.headers['content-type']).split(';')[0];
      expect(Object.keys(documented.content)).toContain(contentType);
      const schema = documented.content[contentType].schema;
      const validate = ajv.compile(schema);
      const body: unknown = JSON.parse(res.text);
      expect({ valid: validate(body), errors: validate.errors ?? null }).toEqual({ valid: true, errors: null });
      // The documented schema says something: an empty object does not pass it.
      expect(validate({})).toBe(false);
    },
  );
});
