import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { createUser, mfaSession, bearer } from '../support/users';

describe('employees: scope, masking and field rules over HTTP', () => {
  let t: TestApp;
  const tok: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const emp: Record<string, string> = {};

  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', RATE_LIMIT_GENERAL: '10000/60' });
    ids.admin = await createUser(t, 'admin@corp.example', 'admin', 'it');
    ids.alice = await createUser(t, 'alice@corp.example', 'user', 'sales');
    ids.bob = await createUser(t, 'bob@corp.example', 'user', 'finance');
    ids.salesMgr = await createUser(t, 'sm@corp.example', 'manager', 'sales');
    ids.finMgr = await createUser(t, 'fm@corp.example', 'manager', 'finance');
    for (const k of Object.keys(ids)) tok[k] = await mfaSession(t, ids[k]);
    const mk = async (name: string, department: string, userId: string, nationalId: string, salary: number) =>
      (
        await request(t.app)
          .post('/api/v1/employees')
          .set(...bearer(tok.admin))
          .send({
            name,
            workEmail: `${name.toLowerCase()}@corp.example`,
            department,
            userId,
            phone: '+4915100000001',
            nationalId,
            bankAccount: 'DE89370400440532013000',
            salary,
          })
      ).body.id as string;
    emp.alice = await mk('Alice', 'sales', ids.alice, 'AB123456C', 5_200_000);
    emp.bob = await mk('Bob', 'finance', ids.bob, 'ZX987654Q', 6_100_000);
  });
  afterAll(() => t.close());

  it('when a user reads their own record, then the national ID and bank account are masked and the salary hidden', async () => {
    const res = await request(t.app)
      .get(`/api/v1/employees/${emp.alice}`)
      .set(...bearer(tok.alice));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Alice', nationalId: '****456C', bankAccount: '****3000' });
    expect(res.body.salary).toBeUndefined();
  });

  it("when a user asks for someone else's record, then 404 (existence not confirmed)", async () => {
    expect(
      (
        await request(t.app)
          .get(`/api/v1/employees/${emp.bob}`)
          .set(...bearer(tok.alice))
      ).status,
    ).toBe(404);
  });

  it('when a manager of another department asks, then 404; of the same department, then the salary shows', async () => {
    expect(
      (
        await request(t.app)
          .get(`/api/v1/employees/${emp.alice}`)
          .set(...bearer(tok.finMgr))
      ).status,
    ).toBe(404);
    const same = await request(t.app)
      .get(`/api/v1/employees/${emp.alice}`)
      .set(...bearer(tok.salesMgr));
    expect(same.status).toBe(200);
    expect(same.body.salary).toBe(5_200_000);
    expect(same.body.nationalId).toBe('****456C');
  });

  it('when an admin reads, then the full values show', async () => {
    const res = await request(t.app)
      .get(`/api/v1/employees/${emp.alice}`)
      .set(...bearer(tok.admin));
    expect(res.body).toMatchObject({
      nationalId: 'AB123456C',
      bankAccount: 'DE89370400440532013000',
      salary: 5_200_000,
      phone: '+4915100000001',
    });
  });

  it('when a user PATCHes role or salary, then 403 naming the field and nothing changes in the database', async () => {
    const before = await t.container.database
      .db()
      .collection('employees')
      .findOne({ _id: emp.alice as never });
    for (const body of [
      { salary: 9_999_999 },
      { role: 'admin' },
      { name: 'Alice B', salary: 1 },
      { userId: ids.bob },
    ]) {
      const res = await request(t.app)
        .patch(`/api/v1/employees/${emp.alice}`)
        .set(...bearer(tok.alice))
        .send(body);
      expect(res.status).toBe(403);
      expect(res.body.fields).toEqual(expect.arrayContaining(Object.keys(body).filter((k) => k !== 'name')));
    }
    const after = await t.container.database
      .db()
      .collection('employees')
      .findOne({ _id: emp.alice as never });
    expect(after).toEqual(before);
    const ok = await request(t.app)
      .patch(`/api/v1/employees/${emp.alice}`)
      .set(...bearer(tok.alice))
      .send({ name: 'Alice B' });
    expect(ok.status).toBe(200);
    expect(
      await t.container.database
        .db()
        .collection('audit_events')
        .countDocuments({ action: 'employee.update', outcome: 'denied', resourceId: emp.alice }),
    ).toBe(4);
  });

  it('when listing, then each caller only gets records in scope (checked against the raw collection)', async () => {
    const raw = t.container.database.db().collection('employees');
    const listOf = async (who: string) =>
      (
        await request(t.app)
          .get('/api/v1/employees?limit=100')
          .set(...bearer(tok[who]))
      ).body;
    const alice = await listOf('alice');
    expect(alice.items.map((e: { id: string }) => e.id)).toEqual([emp.alice]);
    const fin = await listOf('finMgr');
    const finRaw = await raw.find({ $or: [{ department: 'finance' }, { userId: ids.finMgr }] }).toArray();
    expect(fin.items.map((e: { id: string }) => e.id).sort()).toEqual(finRaw.map((d) => d._id).sort());
    expect(fin.items.every((e: { department: string }) => e.department === 'finance')).toBe(true);
    expect((await listOf('admin')).total).toBe(await raw.countDocuments());
    // Lists apply the same field rules as single reads: masked for the owner, hidden salary;
    // a manager sees the salary and a masked national ID, never the bank account.
    expect(alice.items[0]).toMatchObject({ nationalId: '****456C', bankAccount: '****3000' });
    expect(alice.items[0].salary).toBeUndefined();
    const bobInFin = fin.items.find((e: { id: string }) => e.id === emp.bob);
    expect(bobInFin).toMatchObject({ nationalId: '****654Q', salary: 6_100_000 });
    expect(bobInFin.bankAccount).toBeUndefined();
  });

  it('when the raw collection is dumped, then no national ID, bank account or phone is in plaintext', async () => {
    const dump = JSON.stringify(await t.container.database.db().collection('employees').find().toArray());
    for (const secret of ['AB123456C', 'ZX987654Q', 'DE89370400440532013000', '4915100000001'])
      expect(dump).not.toContain(secret);
  });

  it('when the access explanation is asked, then each field says visible, masked or hidden and why', async () => {
    const own = await request(t.app)
      .get(`/api/v1/access/explain?resource=employees&id=${emp.alice}`)
      .set(...bearer(tok.alice));
    expect(own.status).toBe(200);
    const f = Object.fromEntries(own.body.fields.map((x: { field: string; read: string }) => [x.field, x.read]));
    expect(f).toMatchObject({ name: 'visible', nationalId: 'masked', salary: 'hidden' });
    const forBob = await request(t.app)
      .get(`/api/v1/access/explain?resource=employees&id=${emp.alice}&userId=${ids.bob}`)
      .set(...bearer(tok.admin));
    expect(forBob.body).toMatchObject({ allowed: false, userId: ids.bob });
    const notAdmin = await request(t.app)
      .get(`/api/v1/access/explain?resource=employees&id=${emp.alice}&userId=${ids.bob}`)
      .set(...bearer(tok.alice));
    expect(notAdmin.status).toBe(403);
  });

  it('when an admin session has not passed 2FA, then admin-only routes are refused', async () => {
    const { session } = await t.container.sessions.create(ids.admin, false);
    const noMfa = t.container.tokens.signAccess({
      sub: ids.admin,
      sid: session._id,
      role: 'admin',
      dept: 'it',
      mfa: false,
      enroll: false,
    });
    const res = await request(t.app)
      .get('/api/v1/audit')
      .set(...bearer(noMfa));
    expect(res.status).toBe(403);
    expect(res.body.type).toMatch(/mfa-required/);
    // Reach over every record (an `any` grant) needs 2FA as well: every bank account in full.
    const all = await request(t.app)
      .get(`/api/v1/employees/${emp.bob}`)
      .set(...bearer(noMfa));
    expect(all.status).toBe(403);
    expect(all.body.type).toMatch(/mfa-required/);
    // Nor can such a session mint an API key that carries that reach.
    const key = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(noMfa))
      .send({ name: 'x', scopes: ['employee:read:any'], expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect(key.status).toBe(403);
    expect(key.body.type).toMatch(/mfa-required/);
    // A 2FA session can; the key then works without one, within its scope.
    const minted = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(tok.admin))
      .send({
        name: 'hr-sync',
        scopes: ['employee:read:any'],
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      });
    expect(minted.status).toBe(201);
    const viaKey = await request(t.app).get(`/api/v1/employees/${emp.bob}`).set('X-API-Key', minted.body.key);
    expect(viaKey.status).toBe(200);
    expect(viaKey.body.nationalId).toBe('ZX987654Q');
    // But a key is not a person: no session or second-factor routes.
    for (const path of ['/api/v1/auth/logout-all', '/api/v1/auth/2fa/code']) {
      const res2 = await request(t.app)
        .post(path)
        .set('X-API-Key', minted.body.key)
        .send(path.endsWith('code') ? { method: 'email' } : {});
      expect({ path, status: res2.status }).toEqual({ path, status: 403 });
    }
  });

  it('when a change is audited, then the entry names the actor and role, the changed fields (never values), the client and the request', async () => {
    const res = await request(t.app)
      .patch(`/api/v1/employees/${emp.alice}`)
      .set(...bearer(tok.alice))
      .set('User-Agent', 'AuditCheck/2.0')
      .set('X-Request-Id', 'audit-fields-check')
      .send({ phone: '+4915100000077' });
    expect(res.status).toBe(200);
    const entry = await t.container.database
      .db()
      .collection('audit_events')
      .findOne({ action: 'employee.updated', requestId: 'audit-fields-check' });
    expect(entry).toMatchObject({
      actorId: ids.alice,
      actorRole: 'user',
      resource: 'employee',
      resourceId: emp.alice,
      outcome: 'succeeded',
      fields: ['phone'],
      userAgent: 'AuditCheck/2.0',
    });
    expect(typeof entry!.ip).toBe('string');
    expect(JSON.stringify(entry)).not.toContain('4915100000077');
  });

  it('when a manager creates an employee, then only the basic fields may be set; bank account, phone, salary and national ID are refused and nothing is written', async () => {
    const before = await t.container.database.db().collection('employees').countDocuments();
    for (const extra of [
      { bankAccount: 'DE02120300000000202051' },
      { phone: '+4915100000009' },
      { salary: 1 },
      { nationalId: 'MG-1' },
    ]) {
      const res = await request(t.app)
        .post('/api/v1/employees')
        .set(...bearer(tok.salesMgr))
        .send({ name: 'New Hire', workEmail: 'new.hire@corp.example', department: 'sales', ...extra });
      expect({ extra, status: res.status }).toEqual({ extra, status: 403 });
    }
    expect(await t.container.database.db().collection('employees').countDocuments()).toBe(before);
    const ok = await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(tok.salesMgr))
      .send({ name: 'New Hire', workEmail: 'new.hire@corp.example', department: 'sales' });
    expect(ok.status).toBe(201);
  });
});

describe('invoices: approve and pay', () => {
  let t: TestApp;
  const tok: Record<string, string> = {};
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '10000/60',
      RATE_LIMIT_PAYMENT: '2/60',
    });
    for (const [k, role, dept] of [
      ['clerk', 'user', 'sales'],
      ['mgr', 'manager', 'sales'],
      ['other', 'manager', 'finance'],
      ['payer', 'manager', 'sales'],
      ['admin', 'admin', 'it'],
    ] as const) {
      tok[k] = await mfaSession(t, await createUser(t, `${k}@corp.example`, role, dept));
    }
  });
  afterAll(() => t.close());

  const create = async (n: string) =>
    (
      await request(t.app)
        .post('/api/v1/invoices')
        .set(...bearer(tok.clerk))
        .send({ number: n, customer: 'ACME', amount: 12_500, currency: 'EUR', department: 'sales' })
    ).body.id as string;

  it('when a draft goes through approval and payment, then only the right managers can act, in order', async () => {
    const id = await create('INV-1');
    expect(
      (
        await request(t.app)
          .post(`/api/v1/invoices/${id}/approve`)
          .set(...bearer(tok.clerk))
      ).status,
    ).toBe(403);
    expect(
      (
        await request(t.app)
          .post(`/api/v1/invoices/${id}/approve`)
          .set(...bearer(tok.other))
      ).status,
    ).toBe(404);
    expect(
      (
        await request(t.app)
          .post(`/api/v1/invoices/${id}/pay`)
          .set(...bearer(tok.mgr))
      ).status,
    ).toBe(409);
    const approved = await request(t.app)
      .post(`/api/v1/invoices/${id}/approve`)
      .set(...bearer(tok.mgr));
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('approved');
    expect(
      (
        await request(t.app)
          .patch(`/api/v1/invoices/${id}`)
          .set(...bearer(tok.clerk))
          .send({ amount: 1 })
      ).status,
    ).toBe(409);
    expect(
      (
        await request(t.app)
          .patch(`/api/v1/invoices/${id}`)
          .set(...bearer(tok.clerk))
          .send({ status: 'paid' })
      ).status,
    ).toBe(403);
    // Not the approver (INVOICE_APPROVER_MAY_PAY is false by default).
    const paid = await request(t.app)
      .post(`/api/v1/invoices/${id}/pay`)
      .set(...bearer(tok.payer));
    expect(paid.body.status).toBe('paid');
  });

  it('when a manager approves their own invoice, then 403 (segregation of duties)', async () => {
    const id = (
      await request(t.app)
        .post('/api/v1/invoices')
        .set(...bearer(tok.mgr))
        .send({ number: 'INV-2', customer: 'ACME', amount: 1, currency: 'EUR', department: 'sales' })
    ).body.id;
    expect(
      (
        await request(t.app)
          .post(`/api/v1/invoices/${id}/approve`)
          .set(...bearer(tok.mgr))
      ).status,
    ).toBe(403);
  });

  it('when paying beyond the payment tier, then 429', async () => {
    const ids = [await create('INV-3'), await create('INV-4'), await create('INV-5')];
    for (const id of ids)
      await request(t.app)
        .post(`/api/v1/invoices/${id}/approve`)
        .set(...bearer(tok.mgr));
    const statuses = [];
    for (const id of ids)
      statuses.push(
        (
          await request(t.app)
            .post(`/api/v1/invoices/${id}/pay`)
            .set(...bearer(tok.admin))
        ).status,
      );
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('when listing with filters and sorting, then values are validated and results stay in scope', async () => {
    expect(
      (
        await request(t.app)
          .get('/api/v1/invoices?sort=$where')
          .set(...bearer(tok.clerk))
      ).status,
    ).toBe(400);
    expect(
      (
        await request(t.app)
          .get('/api/v1/invoices?status=draft&status=paid')
          .set(...bearer(tok.clerk))
      ).status,
    ).toBe(400);
    const res = await request(t.app)
      .get('/api/v1/invoices?sort=amount&order=asc&limit=2')
      .set(...bearer(tok.other));
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([]);
    const mine = await request(t.app)
      .get('/api/v1/invoices?status=paid')
      .set(...bearer(tok.clerk));
    expect(mine.body.items.every((i: { status: string }) => i.status === 'paid')).toBe(true);
  });

  it('when a clerk, a manager and an admin list invoices, then each gets exactly their scope of the raw collection, sorted as asked', async () => {
    const clerk2Id = await createUser(t, 'clerk2@corp.example', 'user', 'sales');
    const clerk2 = await mfaSession(t, clerk2Id);
    for (const [n, amount] of [
      ['C2-1', 300],
      ['C2-2', 100],
      ['C2-3', 200],
    ] as const) {
      expect(
        (
          await request(t.app)
            .post('/api/v1/invoices')
            .set(...bearer(clerk2))
            .send({ number: n, customer: 'Globex', amount, currency: 'EUR', department: 'sales' })
        ).status,
      ).toBe(201);
    }
    const raw = t.container.database.db().collection('invoices');
    const ids = async (token: string, query = '') =>
      (
        await request(t.app)
          .get(`/api/v1/invoices?limit=100${query}`)
          .set(...bearer(token))
      ).body.items as Array<{ id: string; amount: number }>;
    const clerkView = await ids(clerk2, '&sort=amount&order=asc');
    expect(clerkView.map((i) => i.id).sort()).toEqual(
      (await raw.find({ createdBy: clerk2Id }).toArray()).map((d) => d._id).sort(),
    );
    expect(clerkView.map((i) => i.amount)).toEqual([100, 200, 300]);
    const mgrView = await ids(tok.mgr);
    expect(mgrView.map((i) => i.id).sort()).toEqual(
      (await raw.find({ department: 'sales' }).toArray()).map((d) => d._id).sort(),
    );
    expect((await ids(tok.other)).filter((i) => mgrView.some((m) => m.id === i.id))).toEqual([]);
    expect((await ids(tok.admin)).length).toBe(await raw.countDocuments());
  });
});

describe('custom roles', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', RATE_LIMIT_GENERAL: '10000/60' });
    admin = await mfaSession(t, await createUser(t, 'roles-admin@corp.example', 'admin', 'it'));
  });
  afterAll(() => t.close());

  it('when an admin defines a role with a parent, then its holders inherit the parent and gain only the added grants', async () => {
    const bad = await request(t.app)
      .put('/api/v1/roles/auditor')
      .set(...bearer(admin))
      .send({ parent: 'user', grants: ['audit:read:any', 'root:everything:any'] });
    expect(bad.status).toBe(400);
    const loop = await request(t.app)
      .put('/api/v1/roles/auditor')
      .set(...bearer(admin))
      .send({ parent: 'auditor', grants: [] });
    expect(loop.status).toBe(400);
    const ok = await request(t.app)
      .put('/api/v1/roles/auditor')
      .set(...bearer(admin))
      .send({ parent: 'user', grants: ['audit:read:any'], description: 'reads the audit trail' });
    expect(ok.status).toBe(200);
    const auditor = await mfaSession(t, await createUser(t, 'aud@corp.example', 'auditor', 'finance'));
    expect(
      (
        await request(t.app)
          .get('/api/v1/audit')
          .set(...bearer(auditor))
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .get('/api/v1/audit/verify')
          .set(...bearer(auditor))
      ).status,
    ).toBe(403);
    expect(
      (
        await request(t.app)
          .get('/api/v1/invoices')
          .set(...bearer(auditor))
      ).status,
    ).toBe(200); // inherited from user
    expect(
      (
        await request(t.app)
          .delete('/api/v1/roles/auditor')
          .set(...bearer(admin))
      ).status,
    ).toBe(409); // still assigned
  });
});
