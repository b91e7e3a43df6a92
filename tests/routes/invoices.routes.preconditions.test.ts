import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { createUser, mfaSession, bearer } from '../support/users';

function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.type).toMatch(new RegExp(`/${code}$`));
}

describe('ETag and If-Match on invoices and employees', () => {
  let t: TestApp;
  const tok: Record<string, string> = {};
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '10000/60',
      CORS_ORIGINS: 'https://erp.example.com',
    });
    for (const [k, role, dept] of [
      ['clerk', 'user', 'sales'],
      ['mgr', 'manager', 'sales'],
      ['payer', 'manager', 'sales'],
      ['admin', 'admin', 'it'],
    ] as const) {
      tok[k] = await mfaSession(t, await createUser(t, `${k}@etag.example`, role, dept));
    }
  });
  afterAll(() => t.close());

  async function draft(number: string): Promise<request.Response> {
    const res = await request(t.app)
      .post('/api/v1/invoices')
      .set(...bearer(tok.clerk))
      .send({ number, customer: 'ACME', amount: 100, currency: 'EUR', department: 'sales' });
    expect(res.status).toBe(201);
    return res;
  }
  const audited = (action: string, resourceId: string) =>
    t.container.database.db().collection('audit_events').countDocuments({ action, resourceId });

  it('when an invoice is created, read, edited, approved and paid, then each answer carries the ETag of its version', async () => {
    const created = await draft('ET-1');
    const id = created.body.id as string;
    expect(created.headers.etag).toBe('W/"0"');
    expect(created.body.version).toBe(0);
    const read = await request(t.app)
      .get(`/api/v1/invoices/${id}`)
      .set(...bearer(tok.mgr));
    expect(read.headers.etag).toBe('W/"0"');
    const edited = await request(t.app)
      .patch(`/api/v1/invoices/${id}`)
      .set(...bearer(tok.clerk))
      .set('If-Match', 'W/"0"')
      .send({ amount: 250 });
    expect(edited.status).toBe(200);
    expect(edited.headers.etag).toBe('W/"1"');
    expect(edited.body).toMatchObject({ amount: 250, version: 1 });
    const approved = await request(t.app)
      .post(`/api/v1/invoices/${id}/approve`)
      .set(...bearer(tok.mgr))
      .set('If-Match', '"1"'); // a strong-looking tag names the same version
    expect(approved.status).toBe(200);
    expect(approved.headers.etag).toBe('W/"2"');
    const paid = await request(t.app)
      .post(`/api/v1/invoices/${id}/pay`)
      .set(...bearer(tok.payer))
      .set('If-Match', '*');
    expect(paid.status).toBe(200);
    expect(paid.headers.etag).toBe('W/"3"');
    const list = await request(t.app)
      .get('/api/v1/invoices?status=paid')
      .set(...bearer(tok.mgr));
    expect(list.body.items.find((i: { id: string }) => i.id === id)).toMatchObject({ version: 3 });
  });

  it('when a GET sends If-None-Match with the current ETag, then 304; after a change, then 200 with the new ETag', async () => {
    const id = (await draft('ET-2')).body.id as string;
    const cached = await request(t.app)
      .get(`/api/v1/invoices/${id}`)
      .set(...bearer(tok.clerk))
      .set('If-None-Match', 'W/"0"');
    expect(cached.status).toBe(304);
    await request(t.app)
      .patch(`/api/v1/invoices/${id}`)
      .set(...bearer(tok.clerk))
      .send({ customer: 'Globex' });
    const fresh = await request(t.app)
      .get(`/api/v1/invoices/${id}`)
      .set(...bearer(tok.clerk))
      .set('If-None-Match', 'W/"0"');
    expect(fresh.status).toBe(200);
    expect(fresh.headers.etag).toBe('W/"1"');
  });

  it('when an edit, approval, payment or delete sends an If-Match of an older version, then 412 and nothing is written or audited', async () => {
    const id = (await draft('ET-3')).body.id as string;
    await request(t.app)
      .patch(`/api/v1/invoices/${id}`)
      .set(...bearer(tok.clerk))
      .send({ amount: 300 });
    const stale = { 'If-Match': 'W/"0"' };
    expectProblem(
      await request(t.app)
        .patch(`/api/v1/invoices/${id}`)
        .set(...bearer(tok.clerk))
        .set(stale)
        .send({ amount: 1 }),
      412,
      'precondition-failed',
    );
    expectProblem(
      await request(t.app)
        .post(`/api/v1/invoices/${id}/approve`)
        .set(...bearer(tok.mgr))
        .set(stale),
      412,
      'precondition-failed',
    );
    expectProblem(
      await request(t.app)
        .delete(`/api/v1/invoices/${id}`)
        .set(...bearer(tok.admin))
        .set(stale),
      412,
      'precondition-failed',
    );
    expectProblem(
      await request(t.app)
        .post(`/api/v1/invoices/${id}/approve`)
        .set(...bearer(tok.mgr))
        .set('If-Match', 'version-1'),
      412,
      'precondition-failed',
    );
    const stored = await t.container.models.Invoice.findById(id).lean();
    expect(stored).toMatchObject({ amount: 300, status: 'draft', version: 1 });
    expect(await audited('invoice.updated', id)).toBe(1);
    expect(await audited('invoice.approved', id)).toBe(0);
    const approved = await request(t.app)
      .post(`/api/v1/invoices/${id}/approve`)
      .set(...bearer(tok.mgr))
      .set('If-Match', 'W/"7", W/"1"');
    expect(approved.status).toBe(200);
    expectProblem(
      await request(t.app)
        .post(`/api/v1/invoices/${id}/pay`)
        .set(...bearer(tok.payer))
        .set('If-Match', 'W/"1"'),
      412,
      'precondition-failed',
    );
  });

  it('when an If-Match delete matches, then 204 and the invoice is gone', async () => {
    const id = (await draft('ET-4')).body.id as string;
    const res = await request(t.app)
      .delete(`/api/v1/invoices/${id}`)
      .set(...bearer(tok.admin))
      .set('If-Match', 'W/"0"');
    expect(res.status).toBe(204);
    expect(await t.container.models.Invoice.findById(id).lean()).toBeNull();
  });

  it('when an employee record is read and edited, then it carries ETags and a stale If-Match is a 412 that writes nothing', async () => {
    const created = await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(tok.admin))
      .send({ name: 'Etta', workEmail: 'etta@etag.example', department: 'sales', nationalId: 'ETAG0001X' });
    expect(created.status).toBe(201);
    expect(created.headers.etag).toBe('W/"0"');
    const id = created.body.id as string;
    const edited = await request(t.app)
      .patch(`/api/v1/employees/${id}`)
      .set(...bearer(tok.admin))
      .set('If-Match', 'W/"0"')
      .send({ salary: 4_000_000, bankAccount: 'DE89370400440532013000' });
    expect(edited.status).toBe(200);
    expect(edited.headers.etag).toBe('W/"1"');
    expect(edited.body).toMatchObject({ salary: 4_000_000, bankAccount: 'DE89370400440532013000', version: 1 });
    // Still encrypted at rest when written through the versioned update.
    const raw = await t.container.database
      .db()
      .collection<{ _id: string; bankAccount: string }>('employees')
      .findOne({ _id: id });
    expect(raw!.bankAccount).not.toContain('DE89');
    const read = await request(t.app)
      .get(`/api/v1/employees/${id}`)
      .set(...bearer(tok.mgr));
    expect(read.headers.etag).toBe('W/"1"');
    expectProblem(
      await request(t.app)
        .patch(`/api/v1/employees/${id}`)
        .set(...bearer(tok.admin))
        .set('If-Match', 'W/"0"')
        .send({ salary: 1 }),
      412,
      'precondition-failed',
    );
    expectProblem(
      await request(t.app)
        .delete(`/api/v1/employees/${id}`)
        .set(...bearer(tok.admin))
        .set('If-Match', 'W/"0"'),
      412,
      'precondition-failed',
    );
    expect(await t.container.models.Employee.findById(id).lean()).toMatchObject({ salary: 4_000_000, version: 1 });
  });

  it('when a browser frontend preflights a PATCH with If-Match, then it is allowed, and the ETag is readable by the page', async () => {
    const preflight = await request(t.app)
      .options('/api/v1/invoices/00000000-0000-4000-8000-000000000000')
      .set('Origin', 'https://erp.example.com')
      .set('Access-Control-Request-Method', 'PATCH')
      .set('Access-Control-Request-Headers', 'authorization,content-type,if-match');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toMatch(/If-Match/);
    const created = await request(t.app)
      .post('/api/v1/invoices')
      .set('Origin', 'https://erp.example.com')
      .set(...bearer(tok.clerk))
      .send({ number: 'ET-CORS', customer: 'ACME', amount: 1, currency: 'EUR', department: 'sales' });
    expect(created.headers['access-control-expose-headers']).toMatch(/ETag/);
  });
});
