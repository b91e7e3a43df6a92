import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { bearer, createUser, mfaSession } from '../support/users';

type Resource = 'employees' | 'invoices';
type Action = 'read' | 'create' | 'update' | 'delete' | 'approve' | 'pay';

interface Explained {
  allowed: boolean;
  reason: string;
  possession: string | null;
  scope: string | null;
  needs2fa: boolean;
  fields: Array<{ field: string; writable: boolean }>;
}

const ACTIONS: Record<Resource, Action[]> = {
  employees: ['read', 'create', 'update', 'delete'],
  invoices: ['read', 'create', 'update', 'approve', 'pay', 'delete'],
};
/** The field each update writes (its writability is part of the explain answer). */
const UPDATED_FIELD: Record<Resource, string> = { employees: 'name', invoices: 'customer' };

/**
 * GET /api/v1/access/explain answers exactly what the policy decides: for every caller ×
 * action on employees and invoices, the explanation predicts the real request's outcome
 * (allowed ↔ 2xx; denied ↔ 403, or 404 outside the scope). Records belong to a clerk of
 * sales, so segregation of duties (nobody approves their own invoice) never applies here.
 */
describe('access explain matches the real request', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};
  /** How each caller authenticates: a header pair for supertest. */
  const callers: Record<string, [string, string]> = {};
  const departments: Record<string, string> = {};
  let seq = 0;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '100000/60',
      RATE_LIMIT_PAYMENT: '100000/60',
      RATE_LIMIT_API_KEY: '100000/3600',
    });
    // A custom role: a user who approves the department's invoices, and reaches the department.
    await t.container.deps.access.roles.upsert(
      'dept-approver',
      { parent: 'user', grants: ['invoice:approve:own', 'scope:department:own'] },
      'test',
    );
    for (const [k, role, dept] of [
      ['owner', 'user', 'sales'],
      ['admin', 'admin', 'it'],
      // Approves the invoices the others pay: nobody pays what they approved (segregation of duties).
      ['approver', 'admin', 'it'],
      ['guest', 'guest', 'sales'],
      ['user', 'user', 'sales'],
      ['manager', 'manager', 'sales'],
      ['otherManager', 'manager', 'finance'],
      ['custom', 'dept-approver', 'sales'],
    ] as const) {
      ids[k] = await createUser(t, `${k}@explain.example`, role, dept);
      departments[k] = dept;
      callers[k] = bearer(await mfaSession(t, ids[k]));
    }
    // A manager whose session did not pass 2FA (within `own` reach none is needed).
    ids.managerNo2fa = await createUser(t, 'manager-no2fa@explain.example', 'manager', 'sales');
    departments.managerNo2fa = 'sales';
    const { session } = await t.container.sessions.create(ids.managerNo2fa, false);
    callers.managerNo2fa = bearer(
      t.container.tokens.signAccess({
        sub: ids.managerNo2fa,
        sid: session._id,
        role: 'manager',
        dept: 'sales',
        mfa: false,
        enroll: false,
      }),
    );
    // A sales manager's API key without scope:department:own: it reaches only the manager's records.
    const key = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...callers.manager)
      .send({
        name: 'narrow',
        scopes: ['access:explain:own', 'employee:read:own', 'invoice:read:own', 'invoice:approve:own'],
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      });
    expect(key.status).toBe(201);
    callers.managerKey = ['X-API-Key', key.body.key as string];
    departments.managerKey = 'sales';
  });
  afterAll(() => t.close());

  const as = (caller: string) => ({
    get: (path: string) =>
      request(t.app)
        .get(path)
        .set(...callers[caller]),
    post: (path: string, body: object = {}) =>
      request(t.app)
        .post(path)
        .set(...callers[caller])
        .send(body),
    patch: (path: string, body: object) =>
      request(t.app)
        .patch(path)
        .set(...callers[caller])
        .send(body),
    delete: (path: string) =>
      request(t.app)
        .delete(path)
        .set(...callers[caller]),
  });

  /** A fresh record of a sales clerk, in the state the action needs. */
  const freshRecord = async (resource: Resource, action: Action): Promise<string> => {
    seq += 1;
    if (resource === 'employees') {
      const res = await as('admin').post('/api/v1/employees', {
        name: `Employee ${seq}`,
        workEmail: `employee${seq}@explain.example`,
        department: 'sales',
        nationalId: `NID-${seq}`,
        // One employee record per user: each record links its own sales clerk.
        userId: await createUser(t, `clerk${seq}@explain.example`, 'user', 'sales'),
      });
      expect(res.status).toBe(201);
      return res.body.id as string;
    }
    const res = await as('owner').post('/api/v1/invoices', {
      number: `EXPLAIN-${seq}`,
      customer: 'ACME',
      amount: 100,
      currency: 'EUR',
      department: 'sales',
    });
    expect(res.status).toBe(201);
    if (action === 'pay')
      expect((await as('approver').post(`/api/v1/invoices/${res.body.id}/approve`)).status).toBe(200);
    return res.body.id as string;
  };

  const perform = (caller: string, resource: Resource, action: Action, id: string | null) => {
    const base = `/api/v1/${resource}`;
    seq += 1;
    switch (action) {
      case 'read':
        return as(caller).get(`${base}/${id}`);
      case 'update':
        return as(caller).patch(`${base}/${id}`, { [UPDATED_FIELD[resource]]: `Changed ${seq}` });
      case 'delete':
        return as(caller).delete(`${base}/${id}`);
      case 'approve':
      case 'pay':
        return as(caller).post(`${base}/${id}/${action}`);
      case 'create':
        return resource === 'employees'
          ? as(caller).post(base, {
              name: `Hire ${seq}`,
              workEmail: `hire${seq}@explain.example`,
              department: departments[caller],
            })
          : as(caller).post(base, {
              number: `NEW-${seq}`,
              customer: 'ACME',
              amount: 100,
              currency: 'EUR',
              department: departments[caller],
            });
    }
  };

  const SESSIONS_WITH_2FA = ['guest', 'user', 'manager', 'otherManager', 'admin', 'custom'];
  const CALLERS = ['guest', 'user', 'manager', 'otherManager', 'managerNo2fa', 'admin', 'custom', 'managerKey'];

  describe.each(['employees', 'invoices'] as const)('%s', (resource) => {
    it.each(CALLERS)('when %s asks explain for each action, then the real request agrees', async (caller) => {
      const mismatches: string[] = [];
      for (const action of ACTIONS[resource]) {
        const id = action === 'create' ? null : await freshRecord(resource, action);
        const q = new URLSearchParams({ resource, action, ...(id ? { id } : {}) });
        const explained = await as(caller).get(`/api/v1/access/explain?${q}`);
        if (SESSIONS_WITH_2FA.includes(caller)) {
          // An administrator asking for this person gets the same answer (it assumes a 2FA session).
          q.set('userId', ids[caller]);
          const forThem = await as('admin').get(`/api/v1/access/explain?${q}`);
          if (caller === 'guest') {
            // A guest may not explain (no access:explain): the administrator's answer is the one to check.
            expect(explained.status).toBe(403);
            Object.assign(explained, { status: forThem.status, body: forThem.body });
          } else expect(forThem.body).toEqual(explained.body);
        }
        const real = await perform(caller, resource, action, id);
        // A created employee has no national ID; remove it so the next one does not collide on its unique blind index.
        if (resource === 'employees' && action === 'create' && real.status === 201)
          await t.container.models.Employee.deleteOne({ _id: real.body.id });
        if (explained.status !== 200) {
          mismatches.push(`${action}: explain answered ${explained.status} ${explained.body.detail ?? ''}`);
          continue;
        }
        const e = explained.body as Explained;
        const writable =
          action !== 'update' || e.fields.find((f) => f.field === UPDATED_FIELD[resource])?.writable === true;
        const expected = !e.allowed ? (e.reason === 'outside-scope' ? 404 : 403) : writable ? 'success' : 403;
        const got = real.status >= 200 && real.status < 300 ? 'success' : real.status;
        if (got !== expected)
          mismatches.push(
            `${action}: explain ${JSON.stringify({ ...e, fields: undefined })} but ${real.status} ${real.body.detail ?? ''}`,
          );
        if (e.allowed && e.scope === null) mismatches.push(`${action}: allowed without a scope`);
      }
      expect(mismatches).toEqual([]);
    });
  });

  it('when a manager explains approving a department invoice, then it names the possession, the department scope and no 2FA need', async () => {
    const id = await freshRecord('invoices', 'approve');
    const res = await as('managerNo2fa').get(`/api/v1/access/explain?resource=invoices&action=approve&id=${id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      permission: 'invoice:approve',
      allowed: true,
      reason: 'granted',
      possession: 'own',
      scope: 'department',
      needs2fa: false,
      inScope: true,
    });
  });

  it("when a manager's narrow API key explains a department invoice, then it is outside its own scope", async () => {
    const id = await freshRecord('invoices', 'read');
    const res = await as('managerKey').get(`/api/v1/access/explain?resource=invoices&action=read&id=${id}`);
    expect(res.body).toMatchObject({ allowed: false, reason: 'outside-scope', possession: 'own', scope: 'own' });
  });

  it('when an admin explains deleting an employee, then it says any reach and a 2FA session needed', async () => {
    const id = await freshRecord('employees', 'delete');
    const res = await as('admin').get(`/api/v1/access/explain?resource=employees&action=delete&id=${id}`);
    expect(res.body).toMatchObject({ allowed: true, possession: 'any', scope: 'any', needs2fa: true });
  });

  it('when the action does not belong to the resource, then 400', async () => {
    const res = await as('admin').get('/api/v1/access/explain?resource=employees&action=approve');
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: 'query.action' })]);
  });
});
