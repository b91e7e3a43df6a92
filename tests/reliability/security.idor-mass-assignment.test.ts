import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { appRoutes } from '../../src/lib/openapi';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { expectProblem } from '../support/problems';
import { bearer, createUser, mfaSession, PASSWORD } from '../support/users';
import { dbFingerprint } from './support/db-fingerprint';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * IDOR and mass assignment as a sweep: user A owns an employee record, an invoice and an API
 * key; user B (same department) and a manager of another department try every route of the
 * route table that takes a record id against A's records, with bodies that would be valid. Each
 * attempt is refused (403, or 404 that does not confirm the record exists) and nothing of A's
 * changes. Then A tries to raise their own rights by adding privileged fields to every body
 * they may send. Per-resource tests (tests/routes/*.test.ts) cover the same rules one by one;
 * this sweep makes a new resource route without a rule fail here.
 */
describe('IDOR across every resource route, and privilege escalation by mass assignment', () => {
  let t: TestApp;
  const ids = { userA: '', userB: '', employeeA: '', invoiceA: '', apiKeyA: '', passkeyA: randomUUID() };
  const tokens = { admin: '', a: '', b: '', otherManager: '' };

  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
    const adminId = await createUser(t, 'idor-admin@idor.example', 'admin', 'it');
    ids.userA = await createUser(t, 'idor-a@idor.example', 'user', 'sales');
    ids.userB = await createUser(t, 'idor-b@idor.example', 'user', 'sales');
    const otherManager = await createUser(t, 'idor-fin@idor.example', 'manager', 'finance');
    tokens.admin = await mfaSession(t, adminId);
    tokens.a = await mfaSession(t, ids.userA);
    tokens.b = await mfaSession(t, ids.userB);
    tokens.otherManager = await mfaSession(t, otherManager);

    const emp = await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(tokens.admin))
      .send({ name: 'Anna A', workEmail: 'anna@idor.example', department: 'sales', userId: ids.userA, salary: 5000 });
    expect(emp.status).toBe(201);
    ids.employeeA = emp.body.id as string;
    const inv = await request(t.app)
      .post('/api/v1/invoices')
      .set(...bearer(tokens.a))
      .send({ number: 'IDOR-A-1', customer: 'A Customer', amount: 1200, currency: 'EUR', department: 'sales' });
    expect(inv.status).toBe(201);
    ids.invoiceA = inv.body.id as string;
    const key = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(tokens.a))
      .send({
        name: 'A key',
        scopes: ['invoice:read:own'],
        expiresAt: new Date(Date.now() + 7 * 86_400_000).toISOString(),
      });
    expect(key.status).toBe(201);
    ids.apiKeyA = key.body.id as string;
    // A's passkey (public material only; the ceremonies are tested in tests/routes/passkeys.routes*.test.ts).
    await t.container.models.PasskeyCredential.create({
      _id: ids.passkeyA,
      userId: ids.userA,
      credentialId: randomUUID(),
      publicKey: 'pQECAyYgASFYIA',
      counter: 0,
      transports: ['internal'],
      deviceType: 'multiDevice',
      backedUp: true,
      name: 'A passkey',
      createdAt: new Date(),
    });
  }, 60_000);
  afterAll(() => t.close());

  /** A's record behind each id-taking route (by resource), and a body the route would accept. */
  function targetOf(path: string, method: string): { id: string; body?: object } | null {
    if (path.startsWith('/api/v1/auth/passkeys/'))
      return { id: ids.passkeyA, body: method === 'DELETE' ? { password: PASSWORD } : { name: 'Hacked' } };
    if (path.startsWith('/api/v1/employees/')) return { id: ids.employeeA, body: { name: 'Hacked' } };
    if (path.startsWith('/api/v1/invoices/')) return { id: ids.invoiceA, body: { customer: 'Hacked' } };
    if (path.startsWith('/api/v1/api-keys/')) return { id: ids.apiKeyA, body: { overlapSeconds: 0 } };
    if (path.startsWith('/api/v1/users/')) return { id: ids.userA, body: { name: 'Hacked' } };
    if (path.startsWith('/api/v1/gdpr/users/')) return { id: ids.userA, body: { password: PASSWORD } };
    // Admin-only operations resources: no user owns them; any id must meet a 403 first.
    if (path.startsWith('/api/v1/alerts/')) return { id: randomUUID(), body: { comment: 'x' } };
    if (path.startsWith('/api/v1/admin/backups/')) return { id: randomUUID(), body: {} };
    if (path.startsWith('/api/v1/roles/')) return { id: 'manager', body: { parent: 'admin', grants: [] } };
    return null;
  }

  it("when user B and a manager of another department call every id-taking route on A's records, then 403/404 problem+json and nothing of A's changes", async () => {
    const routes = appRoutes(t.app).filter((r) => r.authenticated && /:\w+/.test(r.path));
    expect(routes.length).toBeGreaterThan(20);
    const before = await dbFingerprint(t);
    const leaks: string[] = [];
    for (const route of routes) {
      const target = targetOf(route.path, route.method);
      if (!target) {
        leaks.push(`${route.method} ${route.path}: no target in this sweep (add one)`);
        continue;
      }
      const path = route.path.replace(/:\w+/g, target.id);
      for (const [who, token] of [
        ['user B', tokens.b],
        ['finance manager', tokens.otherManager],
      ] as const) {
        const method = route.method.toLowerCase() as Method;
        const req = request(t.app)
          [method](path)
          .set(...bearer(token));
        // A body only where the route takes one: an unexpected body is a 400 before any access check.
        const res = route.spec?.body ? await req.send(target.body ?? {}) : await req;
        if (res.status !== 403 && res.status !== 404) leaks.push(`${who}: ${route.method} ${path} → ${res.status}`);
        else expectProblem(res, res.status);
        // A 404 must not say more than "not found": no owner, department or field of the record.
        expect(res.text).not.toMatch(/Anna|A Customer|idor-a@/);
      }
    }
    expect(leaks).toEqual([]);
    expect(await dbFingerprint(t)).toEqual(before);
    // And A still reaches each of them: the refusals above were about who asked, not a broken record.
    expect(
      (
        await request(t.app)
          .get(`/api/v1/employees/${ids.employeeA}`)
          .set(...bearer(tokens.a))
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .get(`/api/v1/invoices/${ids.invoiceA}`)
          .set(...bearer(tokens.a))
      ).status,
    ).toBe(200);
  });

  it("when B lists employees, invoices and API keys, then none of A's records is in the lists", async () => {
    for (const path of ['/api/v1/employees', '/api/v1/invoices', '/api/v1/api-keys']) {
      const res = await request(t.app)
        .get(path)
        .set(...bearer(tokens.b));
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toMatch(new RegExp(`${ids.employeeA}|${ids.invoiceA}|${ids.apiKeyA}`));
    }
  });

  it("when B ends all of B's sessions, then A's session still works (sessions are per user)", async () => {
    const b2 = await mfaSession(t, ids.userB);
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/logout-all')
          .set(...bearer(b2))
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(tokens.a))
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(b2))
      ).status,
    ).toBe(401);
  });

  it('when A adds role, permissions, status, ownership or workflow fields to any body A may send, then 400/403 and nothing changes', async () => {
    const privileged = {
      role: 'admin',
      permissions: ['*'],
      status: 'active',
      mfa: { methods: [] },
      passwordHash: 'x',
      emailLower: 'idor-admin@idor.example',
      _id: randomUUID(),
    };
    const attempts: Array<[Method, string, object]> = [
      ...Object.entries(privileged).map(([k, v]): [Method, string, object] => ['patch', '/api/v1/auth/me', { [k]: v }]),
      ['patch', '/api/v1/auth/me', { name: 'Still A', role: 'admin' }],
      ['patch', `/api/v1/employees/${ids.employeeA}`, { role: 'admin' }],
      ['patch', `/api/v1/employees/${ids.employeeA}`, { userId: ids.userB }],
      ['patch', `/api/v1/employees/${ids.employeeA}`, { department: 'finance' }],
      ['patch', `/api/v1/employees/${ids.employeeA}`, { salary: 999_999 }],
      ['patch', `/api/v1/employees/${ids.employeeA}`, { name: 'A', createdBy: ids.userB }],
      ['patch', `/api/v1/invoices/${ids.invoiceA}`, { status: 'paid' }],
      ['patch', `/api/v1/invoices/${ids.invoiceA}`, { status: 'approved', approvedBy: ids.userB }],
      ['patch', `/api/v1/invoices/${ids.invoiceA}`, { createdBy: ids.userB }],
      ['patch', `/api/v1/invoices/${ids.invoiceA}`, { department: 'finance' }],
      ['patch', `/api/v1/invoices/${ids.invoiceA}`, { version: 99 }],
      [
        'post',
        '/api/v1/invoices',
        { number: 'IDOR-A-2', customer: 'C', amount: 1, currency: 'EUR', department: 'sales', status: 'paid' },
      ],
      [
        'post',
        '/api/v1/invoices',
        { number: 'IDOR-A-3', customer: 'C', amount: 1, currency: 'EUR', department: 'sales', createdBy: ids.userB },
      ],
      [
        'post',
        '/api/v1/api-keys',
        { name: 'k', scopes: ['user:create:any'], expiresAt: new Date(Date.now() + 86_400_000).toISOString() },
      ],
      [
        'post',
        '/api/v1/api-keys',
        {
          name: 'k',
          scopes: ['invoice:read:own'],
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
          ownerId: ids.userB,
        },
      ],
      ['post', `/api/v1/api-keys/${ids.apiKeyA}/rotate`, { overlapSeconds: 0, scopes: ['user:read:any'] }],
      ['patch', `/api/v1/users/${ids.userA}`, { role: 'admin' }],
    ];
    const before = await dbFingerprint(t);
    const accepted: string[] = [];
    for (const [method, path, body] of attempts) {
      const res = await request(t.app)
        [method](path)
        .set(...bearer(tokens.a))
        .send(body);
      if (res.status !== 400 && res.status !== 403)
        accepted.push(`${method} ${path} ${JSON.stringify(body)} → ${res.status}`);
      else expectProblem(res, res.status);
    }
    expect(accepted).toEqual([]);
    expect(await dbFingerprint(t)).toEqual(before);
    const me = await request(t.app)
      .get('/api/v1/auth/me')
      .set(...bearer(tokens.a));
    expect(me.body).toMatchObject({ role: 'user', department: 'sales' });
  });

  it('when an admin adds fields the user API does not offer (password hash, second factors, email index), then 400 and the user is unchanged', async () => {
    const before = await dbFingerprint(t);
    for (const body of [
      { passwordHash: '$2b$10$abcdefghijklmnopqrstuv' },
      { mfa: { methods: [] } },
      { emailLower: 'someone@else.example' },
      { email: 'idor-admin@idor.example' },
      { failedSecondFactors: 0, name: 'B' },
    ]) {
      const res = await request(t.app)
        .patch(`/api/v1/users/${ids.userB}`)
        .set(...bearer(tokens.admin))
        .send(body);
      expectProblem(res, 400);
    }
    expect(await dbFingerprint(t)).toEqual(before);
  });
});
