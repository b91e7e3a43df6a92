import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { createUser, mfaSession, bearer } from '../support/users';

describe('invoices: approve and pay', () => {
  let t: TestApp;
  const tok: Record<string, string> = {};
  beforeAll(async () => {
    t = await buildTestApp(__filename, { ...ROUTE_TEST_ENV, RATE_LIMIT_PAYMENT: '2/60' });
    for (const [k, role, dept] of [
      ['clerk', 'user', 'sales'],
      ['mgr', 'manager', 'sales'],
      ['other', 'manager', 'finance'],
      ['cashier', 'manager', 'sales'],
      ['admin', 'admin', 'it'],
    ] as const) {
      tok[k] = await mfaSession(t, await createUser(t, `${k}@corp.example`, role, dept));
    }
  });
  afterAll(() => t.close());
  // Users are set up once and never changed; each test creates the invoices it acts on, and
  // the tests that pay do it as a payer of their own (the payment tier counts per user).

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
    const paid = await request(t.app)
      .post(`/api/v1/invoices/${id}/pay`)
      // Not the approver (INVOICE_APPROVER_MAY_PAY is false by default).
      .set(...bearer(tok.cashier));
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
    const payer = await mfaSession(t, await createUser(t, 'payer@corp.example', 'admin', 'it'));
    const ids = [await create('INV-3'), await create('INV-4'), await create('INV-5')];
    for (const id of ids)
      expect(
        (
          await request(t.app)
            .post(`/api/v1/invoices/${id}/approve`)
            .set(...bearer(tok.admin))
        ).status,
      ).toBe(200);
    const statuses = [];
    for (const id of ids)
      statuses.push(
        (
          await request(t.app)
            .post(`/api/v1/invoices/${id}/pay`)
            .set(...bearer(payer))
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
