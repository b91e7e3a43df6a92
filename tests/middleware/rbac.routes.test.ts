import request from 'supertest';
import type { Express, RequestHandler } from 'express';
import { buildTestApp, type TestApp } from '../support/app';
import { auditCount } from '../support/audit';
import { createUser, mfaSession } from '../support/users';
import { BASE_ROLES, baseRoleGrants, parsePermission } from '../../src/services/access/policy';

interface Layer {
  route?: {
    path: string;
    methods: Record<string, boolean>;
    stack: Array<{ handle: RequestHandler & { permission?: string } }>;
  };
  name: string;
  handle: { stack?: Layer[] };
  matchers?: Array<(path: string) => unknown>;
}

/** Routes reachable without a permission: the public ones, and those any signed-in caller uses for their own session. */
const NO_PERMISSION: Record<string, 'public' | 'session'> = {
  'GET /': 'public',
  'GET /health': 'public',
  'GET /health/live': 'public',
  'GET /health/ready': 'public',
  // Guarded by METRICS_TOKEN (a scraper credential), not by a user permission.
  'GET /metrics': 'public',
  // The API document: public outside production; in production behind apidocs:read:any (tests/routes/api-docs.routes.test.ts).
  'GET /api/docs': 'public',
  'GET /api/docs/openapi.json': 'public',
  'POST /api/v1/auth/login': 'public',
  'POST /api/v1/auth/refresh': 'public',
  'POST /api/v1/auth/2fa/challenge': 'public',
  'POST /api/v1/auth/2fa/verify': 'public',
  'POST /api/v1/auth/logout': 'session',
  'POST /api/v1/auth/logout-all': 'session',
  'POST /api/v1/auth/password': 'session',
  'GET /api/v1/auth/me': 'session',
  'GET /api/v1/auth/session': 'session',
  'GET /api/v1/auth/permissions': 'session',
  'POST /api/v1/auth/2fa/totp/setup': 'session',
  'POST /api/v1/auth/2fa/totp/enable': 'session',
  'POST /api/v1/auth/2fa/sms/setup': 'session',
  'POST /api/v1/auth/2fa/sms/enable': 'session',
  'POST /api/v1/auth/2fa/email/setup': 'session',
  'POST /api/v1/auth/2fa/email/enable': 'session',
  'POST /api/v1/auth/2fa/backup-codes': 'session',
  'POST /api/v1/auth/2fa/disable': 'session',
  'POST /api/v1/auth/2fa/code': 'session',
  // Passkeys: sign-in steps are public like /2fa/verify; the rest is the caller's own factors.
  'POST /api/v1/auth/passkeys/authentication/options': 'public',
  'POST /api/v1/auth/passkeys/authentication/verify': 'public',
  'POST /api/v1/auth/passkeys/passwordless/options': 'public',
  'POST /api/v1/auth/passkeys/passwordless/verify': 'public',
  'POST /api/v1/auth/passkeys/registration/options': 'session',
  'POST /api/v1/auth/passkeys/registration/verify': 'session',
  'GET /api/v1/auth/passkeys': 'session',
  'PATCH /api/v1/auth/passkeys/:id': 'session',
  'DELETE /api/v1/auth/passkeys/:id': 'session',
};

/** The mount prefix of a router layer, read from the path Express 5 matches it against. */
function mountOf(layer: Layer, mounts: Map<unknown, string>): string {
  return mounts.get(layer.handle) ?? '';
}

/** Every (method, path, permission) the app serves, read from the Express router stack. */
function routeTable(
  app: Express,
  mounts: Map<unknown, string>,
): Array<{ method: string; path: string; permission?: string }> {
  const out: Array<{ method: string; path: string; permission?: string }> = [];
  const walk = (stack: Layer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        const permission = layer.route.stack.map((s) => s.handle.permission).find(Boolean);
        for (const m of Object.keys(layer.route.methods).filter((k) => k !== '_all'))
          out.push({
            method: m.toUpperCase(),
            path: (prefix + layer.route.path).replace(/\/$/, '') || '/',
            permission,
          });
      } else if (layer.name === 'router' && layer.handle.stack) {
        walk(layer.handle.stack, prefix + mountOf(layer, mounts));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out;
}

describe('every route × every role against the policy file', () => {
  let t: TestApp;
  const tokens: Record<string, string> = {};
  const mounts = new Map<unknown, string>();

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '100000/60',
      RATE_LIMIT_PAYMENT: '100000/60',
      RATE_LIMIT_AUTH: '100000/900',
    });
    // Map each mounted router to its path by asking Express which prefix reaches it.
    const stack = (t.app as unknown as { router: { stack: Layer[] } }).router.stack;
    for (const layer of stack) {
      if (layer.name !== 'router') continue;
      for (const p of [
        '/health',
        '/api/v1/auth',
        // After /api/v1/auth, whose router would also match this prefix.
        '/api/v1/auth/passkeys',
        '/api/v1/users',
        '/api/v1/employees',
        '/api/v1/invoices',
        '/api/v1/access',
        '/api/v1/roles',
        '/api/v1/audit',
        '/api/v1/api-keys',
        '/api/v1/gdpr',
        '/api/v1/encryption',
        '/api/v1/health',
        '/api/v1/admin/backups',
        '/api/v1/alerts',
        '/api/docs',
      ]) {
        if (layer.matchers?.[0]?.(p) && !mounts.has(layer.handle)) mounts.set(layer.handle, p);
      }
    }
    for (const role of BASE_ROLES)
      tokens[role] = await mfaSession(t, await createUser(t, `${role}@table.example`, role, 'sales'));
  });
  afterAll(() => t.close());

  it('when a route is added, then it must either name a permission or be listed as public/session', () => {
    const table = routeTable(t.app, mounts);
    expect(table.length).toBeGreaterThan(30);
    const undeclared = table.filter((r) => !r.permission && !NO_PERMISSION[`${r.method} ${r.path}`]);
    expect(undeclared).toEqual([]);
    for (const r of table) if (r.permission) parsePermission(r.permission);
  });

  it('when each role calls each permission-guarded route, then allow/deny matches the policy file', async () => {
    const table = routeTable(t.app, mounts).filter((r) => r.permission);
    const mismatches: string[] = [];
    for (const r of table) {
      const path = r.path
        .replace(/:id\b/g, '00000000-0000-4000-8000-000000000000')
        .replace(/:name\b/g, 'nonexistent-role')
        .replace(/:userId\b/g, '00000000-0000-4000-8000-000000000001');
      for (const role of BASE_ROLES) {
        const { resource, action, possession } = parsePermission(r.permission!);
        const grants = baseRoleGrants(role);
        const expectedAllowed = possession
          ? grants.has(r.permission!) || (possession === 'own' && grants.has(`${resource}:${action}:any`))
          : grants.has(`${resource}:${action}:own`) || grants.has(`${resource}:${action}:any`);
        const req = request(t.app)
          [r.method.toLowerCase() as 'get' | 'post' | 'patch' | 'put' | 'delete'](path)
          .set('Authorization', `Bearer ${tokens[role]}`);
        // An allowed caller of the live stream would get a stream that never ends: a bad resume id answers 400 instead.
        if (r.path === '/api/v1/alerts/stream') req.set('Last-Event-ID', 'not-a-cursor');
        const res = ['POST', 'PATCH', 'PUT'].includes(r.method) ? await req.send({}) : await req;
        const denied =
          res.status === 403 &&
          /forbidden|mfa-required/.test(res.body.type ?? '') &&
          /permission|two-factor/i.test(res.body.detail ?? res.body.title ?? '');
        if (denied === expectedAllowed)
          mismatches.push(
            `${r.method} ${r.path} as ${role}: expected ${expectedAllowed ? 'allow' : 'deny'}, got ${res.status} ${res.body.detail ?? ''}`,
          );
        if (res.status === 401 || res.status >= 500)
          mismatches.push(`${r.method} ${r.path} as ${role}: unexpected ${res.status}`);
      }
    }
    expect(mismatches).toEqual([]);
  }, 60_000);

  it('when a denial happens, then it is in the audit trail', async () => {
    const userId = await createUser(t, 'denied@table.example', 'user', 'sales');
    const res = await request(t.app)
      .get('/api/v1/audit')
      .set('Authorization', `Bearer ${await mfaSession(t, userId)}`)
      .set('X-Request-Id', 'denied-audit-read');
    expect(res.status).toBe(403);
    expect(await auditCount(t, { action: 'access.denied', actorId: userId, requestId: 'denied-audit-read' })).toBe(1);
  });
});
