import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { buildOpenApiDocument, type JsonSchema } from '../../src/lib/openapi';
import { VERSION } from '../../src/lib/version';
import { createHttpServer } from '../../src/http-server';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { createUser, mfaSession } from '../support/users';
import { dbFingerprint } from './support/db-fingerprint';

/**
 * Hostile-input fuzzing of every route the app serves (read from the Express route table
 * through the OpenAPI builder, so a new route is fuzzed without editing this file): generated
 * JSON bodies, query strings, path parameters and headers, anonymous and with an admin 2FA
 * session, over a real listening server (the production HTTP server wrapper). After each
 * request: no 5xx, every error is problem+json, a rejected request left the database as it
 * was. FUZZ_RUNS (at most per route and caller), FUZZ_BUDGET_MS (per caller) and FUZZ_SEED
 * widen or replay a run; fuzz.routes.slow.test.ts
 * is the wide run.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 4);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/**
 * Time for all routes of one caller (anonymous, admin): each route gets as many requests as
 * its equal share of what is left allows at the speed measured so far (at least one, at most
 * FUZZ_RUNS). On a machine slower than usual the run sends fewer requests, it does not last
 * longer. (fast-check's own time limit is not used: it abandons a request in flight, whose
 * writes would then land during the next route's check.)
 */
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 25_000);

/**
 * Routes the admin session does not fuzz, each with why: a success starts background work
 * (that would write to the database while later requests are being checked), never ends (the
 * live stream) or ends the fuzzing session itself. They are still fuzzed anonymously.
 */
const ADMIN_SKIPPED: Record<string, string> = {
  'POST /api/v1/admin/backups': 'starts a backup job in the background',
  'POST /api/v1/encryption/rotation': 'starts a key rotation in the background',
  'POST /api/v1/alerts/test': 'queues alert deliveries in the background',
  'GET /api/v1/alerts/stream': 'a live event stream that never ends',
  'POST /api/v1/auth/logout': "ends the fuzzer's own session",
  'POST /api/v1/auth/logout-all': "ends the fuzzer's own session",
};

/** Endpoints whose 503 is a health verdict in application/health+json, not a failure of the request. */
const HEALTH_VERDICTS = new Set(['/health', '/health/ready']);

interface Operation {
  method: string;
  /** OpenAPI syntax: /api/v1/invoices/{id} */
  path: string;
  queryNames: string[];
  bodyProps: string[];
  hasBody: boolean;
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface FuzzResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function operationsOf(doc: JsonSchema): Operation[] {
  const schemas = ((doc.components as JsonSchema | undefined)?.schemas ?? {}) as Record<string, JsonSchema>;
  const deref = (s: JsonSchema | undefined): JsonSchema | undefined =>
    typeof s?.$ref === 'string' ? schemas[s.$ref.replace('#/components/schemas/', '')] : s;
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, JsonSchema>>)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const params = (op.parameters ?? []) as Array<{ name: string; in: string }>;
      const body = op.requestBody as { content?: Record<string, { schema?: JsonSchema }> } | undefined;
      const schema = deref(body?.content?.['application/json']?.schema);
      ops.push({
        method: method.toUpperCase(),
        path,
        queryNames: params.filter((p) => p.in === 'query').map((p) => p.name),
        bodyProps: Object.keys((schema?.properties ?? {}) as object),
        hasBody: body !== undefined,
      });
    }
  }
  return ops;
}

/** A deterministic seed per route and caller: the same run replays; FUZZ_SEED shifts them all. */
const seedOf = (key: string): number => (createHash('sha256').update(key).digest().readInt32BE(0) ^ (SEED ?? 0)) | 0;

// --- generators ------------------------------------------------------------------------

/** Raw JSON number tokens JSON.parse turns into Infinity, lossy integers, -0 or denormals. */
const HUGE_NUMBERS = ['1e309', '-1e309', '18446744073709551616', '-0', '9007199254740993', '4.9e-325', '1e-400'];
const RAW = (token: string): string => `\u0000RAW:${token}\u0000`;
/** JSON.stringify, then the RAW() placeholders replaced by their bare tokens. */
const toJsonText = (v: unknown): string =>
  JSON.stringify(v).replace(/"\\u0000RAW:(.*?)\\u0000"/g, (_m, token: string) => token);

/** Addresses that look like the seeded admin's to a person: Cyrillic а/е/о, a fullwidth @, a Greek ο. */
const LOOKALIKE_EMAILS = [
  'fuzz-\u0430dmin@fuzz.example',
  'fuzz-admin@fuzz.\u0435xample',
  'fuzz-admin\uff20fuzz.example',
  'fuzz-admin@fuzz.examp\u04cfe',
  'FUZZ-ADMIN@FUZZ.EXAMPLE',
  'fuzz-admin@fuzz.example\u200b',
];

const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\ud800',
    '\u202e',
    'x'.repeat(5000),
    '../../../etc/passwd',
    '<script>alert(1)</script>',
    "' OR 1=1 --",
    '{"$gt":""}',
    ...LOOKALIKE_EMAILS,
  ),
);

const leafValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(...HUGE_NUMBERS.map(RAW)),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 0, 1),
);

/** Bodies shaped like the route's own schema (its property names) with values of any type. */
const shapedBody = (props: string[]): fc.Arbitrary<string> =>
  fc
    .dictionary(
      fc.oneof(fc.constantFrom(...(props.length ? props : ['name'])), fc.string({ maxLength: 12 })),
      fc.oneof(
        leafValue,
        fc.array(leafValue, { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 8 }), leafValue, { maxKeys: 3 }),
      ),
      { maxKeys: 6 },
    )
    .map(toJsonText);

const deepNesting = fc
  .tuple(fc.integer({ min: 21, max: 30_000 }), fc.boolean())
  .map(([n, arrays]) => (arrays ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n)));

const pollution = (props: string[]): fc.Arbitrary<string> =>
  fc.constantFrom(
    '{"__proto__":{"role":"admin","isAdmin":true}}',
    '{"constructor":{"prototype":{"role":"admin"}}}',
    `{"${props[0] ?? 'name'}":"x","__proto__":{"permissions":["*"]}}`,
    '{"a":{"__proto__":{"polluted":1}}}',
    '[{"constructor":{"prototype":{"polluted":1}}}]',
    '{"role":"admin","permissions":["*"],"status":"active","_id":"x","createdBy":"someone"}',
  );

const brokenJson = fc.constantFrom(
  '',
  'null',
  'true',
  '1e309',
  '-0',
  '"just a string"',
  '{',
  '{"a":1,}',
  "{'a':1}",
  'NaN',
  '\ufeff{}',
  '{"a":1}{"b":2}',
  '[]',
);

/** Bytes that are not UTF-8 (a lone continuation byte, an overlong form, a surrogate encoded, 0xFF). */
const INVALID_UTF8 = [
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xff, 0xfe]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xc0, 0xaf]),
];
const invalidUtf8Body = (props: string[]): fc.Arbitrary<Buffer> =>
  fc
    .constantFrom(...INVALID_UTF8)
    .map((bad) => Buffer.concat([Buffer.from(`{"${props[0] ?? 'name'}":"a`), bad, Buffer.from('b"}')]));

const bodyArb = (op: Operation): fc.Arbitrary<Buffer | undefined> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: shapedBody(op.bodyProps).map((s) => Buffer.from(s)) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
    { weight: 1, arbitrary: deepNesting.map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: pollution(op.bodyProps).map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: brokenJson.map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: invalidUtf8Body(op.bodyProps) },
  );

/** Percent-encoded bytes that do not decode as UTF-8, raw Latin-1 bytes, traversal, NUL. */
const HOSTILE_URL_PIECES = [
  '%FF',
  '%C3%28',
  '%ED%A0%80',
  '%E0%80%AF',
  '%',
  '%zz',
  '..%2F..%2F',
  '%00',
  '\xff\xfe',
  'a'.repeat(3000),
];

const urlPiece = fc.oneof(
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom(...HOSTILE_URL_PIECES),
  fc.constantFrom(...HUGE_NUMBERS, '__proto__', 'constructor', 'prototype', '$where', '$gt'),
  fc.constantFrom(...LOOKALIKE_EMAILS).map(encodeURIComponent),
);

const queryArb = (op: Operation): fc.Arbitrary<string> =>
  fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(...(op.queryNames.length ? op.queryNames : ['q'])),
          fc.constantFrom('a[$ne]', '__proto__', 'constructor[prototype][x]', 'sort[$gt]', 'limit.x', '$where'),
          fc.string({ maxLength: 8 }).map(encodeURIComponent),
        ),
        urlPiece,
      ),
      { maxLength: 5 },
    )
    .map((pairs) => (pairs.length ? '?' + pairs.map(([k, v]) => `${k}=${v}`).join('&') : ''));

const headerValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 60,
});

const headersArb = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=',
    ),
    'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown'),
    accept: fc.oneof(headerValue, fc.constantFrom('application/json', 'text/event-stream', '*/*', 'image/png')),
    'x-forwarded-for': fc.oneof(
      headerValue,
      fc.constantFrom('1.2.3.4, 5.6.7.8', 'not-an-ip', '::ffff:1.2.3.4', '999.999.999.999', ',,,', '2001:db8::1%eth0'),
    ),
    'if-match': fc.oneof(headerValue, fc.constantFrom('*', '"1"', 'W/"1"', '"-1"', '"1e309"')),
    'if-none-match': headerValue,
    origin: fc.constantFrom('null', 'https://evil.example', 'https://erp.example.com.evil.net', 'file://'),
    'x-request-id': headerValue,
    'idempotency-key': headerValue,
    range: fc.constantFrom('bytes=0-', 'bytes=-1', 'items=0-9999999999'),
    cookie: headerValue,
    'x-padding': fc.constantFrom('a'.repeat(20_000), 'b'.repeat(200)),
  },
  { requiredKeys: [] },
);

const garbageCredentials = fc.oneof(
  fc.constant({}),
  headerValue.map((v) => ({ authorization: `Bearer ${v}` })),
  fc.constantFrom(
    { authorization: 'Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.' },
    { authorization: 'Basic YWRtaW46YWRtaW4=' },
    { authorization: 'Bearer' },
    { 'x-api-key': 'erp_live_' + 'a'.repeat(40) },
  ),
  headerValue.map((v) => ({ 'x-api-key': v })),
);

function requestArb(
  op: Operation,
  ids: string[],
  auth: fc.Arbitrary<Record<string, string | undefined>>,
): fc.Arbitrary<FuzzRequest> {
  const pathParam = fc.oneof(fc.constantFrom(...ids), fc.uuid(), urlPiece);
  const paramCount = (op.path.match(/\{\w+\}/g) ?? []).length;
  return fc
    .record({
      params: fc.array(pathParam, { minLength: paramCount, maxLength: paramCount }),
      query: queryArb(op),
      headers: headersArb,
      auth,
      body: op.hasBody || op.method !== 'GET' ? bodyArb(op) : fc.constant(undefined),
    })
    .map(({ params, query, headers, auth: credentials, body }) => {
      let i = 0;
      const path = op.path.replace(/\{\w+\}/g, () => params[i++]) + query;
      const merged: Record<string, string> = { ...headers };
      for (const [name, value] of Object.entries(credentials)) if (value !== undefined) merged[name] = value;
      return { method: op.method, path, headers: merged, body };
    });
}

// --- transport -------------------------------------------------------------------------

function send(port: number, req: FuzzRequest): Promise<FuzzResponse> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { ...req.headers, connection: 'close' };
    if (req.body) headers['content-length'] = req.body.length;
    const r = http.request({ host: '127.0.0.1', port, method: req.method, path: req.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    r.on('error', reject);
    r.setTimeout(30_000, () => r.destroy(new Error(`no answer within 30 s: ${req.method} ${req.path.slice(0, 200)}`)));
    r.end(req.body);
  });
}

const describeRequest = (req: FuzzRequest): string =>
  `${req.method} ${req.path.slice(0, 300)} headers=${JSON.stringify(req.headers).slice(0, 300)} body=${
    req.body?.toString('latin1').slice(0, 300) ?? '(none)'
  }`;

// --- the suite -------------------------------------------------------------------------

describe('fuzzing every route with hostile input (fast-check)', () => {
  let t: TestApp;
  let server: http.Server;
  let port: number;
  let adminToken: string;
  let ids: string[];
  let operations: Operation[];
  let fingerprint: Record<string, string>;
  const stats = { requests: 0, rejected: 0, accepted: 0, elapsedMs: 0 };

  beforeAll(async () => {
    t = await buildTestApp(__filename, { ...ROUTE_TEST_ENV, RATE_LIMIT_AUTH: '100000/900' });
    server = createHttpServer(t.app, {
      maxHeaderBytes: t.config.http.maxHeaderBytes,
      timeouts: t.config.http.timeouts,
      securityHeaders: { hsts: false, hstsPreload: false },
      logger: t.logger,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    const adminId = await createUser(t, 'fuzz-admin@fuzz.example', 'admin', 'it');
    await createUser(t, 'fuzz-user@fuzz.example', 'user', 'sales');
    adminToken = await mfaSession(t, adminId);
    const emp = await send(port, {
      method: 'POST',
      path: '/api/v1/employees',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ name: 'Fuzz Target', workEmail: 'target@fuzz.example', department: 'sales' })),
    });
    const inv = await send(port, {
      method: 'POST',
      path: '/api/v1/invoices',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: Buffer.from(
        JSON.stringify({ number: 'FUZZ-1', customer: 'Fuzz Ltd', amount: 100, currency: 'EUR', department: 'sales' }),
      ),
    });
    ids = [emp, inv].filter((r) => r.status === 201).map((r) => String((JSON.parse(r.text) as { id: string }).id));
    operations = operationsOf(buildOpenApiDocument(t.app, { version: VERSION }));
    fingerprint = await dbFingerprint(t);
  }, 120_000);

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  /** Sends one request and checks the answer and, when it was rejected, the database. */
  async function check(req: FuzzRequest): Promise<void> {
    const started = Date.now();
    try {
      await checkOne(req);
    } finally {
      stats.elapsedMs += Date.now() - started;
    }
  }

  async function checkOne(req: FuzzRequest): Promise<void> {
    const res = await send(port, req);
    stats.requests++;
    const what = describeRequest(req);
    const pathname = req.path.split('?')[0];
    if (HEALTH_VERDICTS.has(pathname) && res.status === 503) {
      // A health verdict, not an error: 503 is how /health says a check fails (no backup yet here).
      expect(res.headers['content-type']).toMatch(/^application\/health\+json/);
      fingerprint = await dbFingerprint(t);
      return;
    }
    if (res.status >= 500) throw new Error(`${res.status} for ${what}: ${res.text.slice(0, 300)}`);
    const after = await dbFingerprint(t);
    if (res.status >= 400) {
      stats.rejected++;
      if (!/^application\/problem\+json/.test(String(res.headers['content-type'])))
        throw new Error(`${res.status} is ${String(res.headers['content-type'])}, not problem+json, for ${what}`);
      const problem = JSON.parse(res.text) as { status?: unknown };
      if (problem.status !== res.status) throw new Error(`problem.status ${String(problem.status)} for ${what}`);
      for (const name of new Set([...Object.keys(fingerprint), ...Object.keys(after)]))
        if (fingerprint[name] !== after[name])
          throw new Error(`rejected ${res.status} changed collection ${name} for ${what}`);
    } else {
      stats.accepted++;
    }
    fingerprint = after;
  }

  it('when the route table is read, then every operation is fuzzed and the seeded records exist', () => {
    expect(ids).toHaveLength(2);
    expect(operations.length).toBeGreaterThan(60);
    // A skip entry for a route that no longer exists would silently shrink the admin run.
    const keys = new Set(operations.map((o) => `${o.method} ${o.path}`));
    for (const key of Object.keys(ADMIN_SKIPPED)) expect(keys).toContain(key);
  });

  /** Fuzzes each operation with `auth` within BUDGET_MS; answers how many requests each got. */
  async function fuzzRoutes(ops: Operation[], caller: string, auth: fc.Arbitrary<Record<string, string | undefined>>) {
    const deadline = Date.now() + BUDGET_MS;
    const sent = new Map<string, number>();
    for (const [i, op] of ops.entries()) {
      const key = `${op.method} ${op.path}`;
      const share = Math.max(0, deadline - Date.now()) / (ops.length - i);
      const perRequestMs = stats.requests ? stats.elapsedMs / stats.requests : 0;
      const numRuns = perRequestMs ? Math.max(1, Math.min(RUNS, Math.floor(share / perRequestMs))) : RUNS;
      const before = stats.requests;
      await fc.assert(fc.asyncProperty(requestArb(op, ids, auth), check), {
        numRuns,
        seed: seedOf(`${caller} ${key}`),
        endOnFailure: true,
      });
      sent.set(key, stats.requests - before);
    }
    return sent;
  }

  it(
    'when every route gets generated bodies, queries, path parameters and headers anonymously or with forged credentials, then no 5xx, every error is problem+json and rejected requests change nothing',
    async () => {
      const rejectedBefore = stats.rejected;
      const sent = await fuzzRoutes(operations, 'anon', garbageCredentials);
      expect([...sent].filter(([, n]) => n === 0)).toEqual([]);
      // Most of it must have been refused: the generators produce hostile input, not valid calls.
      const total = [...sent.values()].reduce((a, n) => a + n, 0);
      expect(stats.rejected - rejectedBefore).toBeGreaterThan(total / 2);
    },
    BUDGET_MS + 120_000,
  );

  it(
    'when every route gets generated input with a valid admin 2FA session, then no 5xx, every error is problem+json and rejected requests change nothing',
    async () => {
      const auth = fc.constant({ authorization: `Bearer ${adminToken}` });
      const ops = operations.filter((op) => !ADMIN_SKIPPED[`${op.method} ${op.path}`]);
      const sent = await fuzzRoutes(ops, 'admin', auth);
      expect(sent.size).toBe(operations.length - Object.keys(ADMIN_SKIPPED).length);
      expect([...sent].filter(([, n]) => n === 0)).toEqual([]);
      // The admin session survived the run: the fuzzing reached the handlers, not only the 401 gate.
      const me = await send(port, {
        method: 'GET',
        path: '/api/v1/auth/me',
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(me.status).toBe(200);
    },
    BUDGET_MS + 120_000,
  );

  it('when paths that do not exist are asked with any method, then 404/405 problem+json and nothing changes', async () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND');
    const path = fc
      .array(urlPiece, { minLength: 1, maxLength: 4 })
      .map((parts) => '/' + parts.join('/'))
      .chain((p) => fc.constantFrom(p, '/api/v1/' + p.slice(1), '/api/v1/employees/x/' + p.slice(1)));
    await fc.assert(
      fc.asyncProperty(method, path, headersArb, async (m, p, headers) => check({ method: m, path: p, headers })),
      {
        numRuns: RUNS * 10,
        seed: seedOf('unknown paths'),
        endOnFailure: true,
      },
    );
  });

  it('when the fuzzing is over, then the process still serves, logged nothing fatal and answered no request with 5xx', async () => {
    const live = await send(port, { method: 'GET', path: '/health/live', headers: {} });
    expect(live.status).toBe(200);
    const severe = t.logs.records().filter((r) => typeof r.level === 'number' && r.level >= 50);
    expect(severe.map((r) => r.msg)).toEqual([]);
    expect(stats.requests).toBeGreaterThan(0);
    console.info(`fuzz: ${stats.requests} requests, ${stats.rejected} rejected, ${stats.accepted} accepted`);
  });
});
