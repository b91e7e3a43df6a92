import request from 'supertest';
import { ConfigError, loadConfig } from '../../src/config';
import { buildTestApp, type TestApp } from '../support/app';
import { createUser, mfaSession, bearer } from '../support/users';

function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.type).toMatch(new RegExp(`/${code}$`));
}

async function setUp(t: TestApp): Promise<{ tok: Record<string, string>; ids: Record<string, string> }> {
  const tok: Record<string, string> = {};
  const ids: Record<string, string> = {};
  for (const [k, role, dept] of [
    ['mgrA', 'manager', 'sales'],
    ['mgrB', 'manager', 'sales'],
    ['mgrC', 'manager', 'sales'],
    ['admin', 'admin', 'it'],
  ] as const) {
    ids[k] = await createUser(t, `${k}@duties.example`, role, dept);
    tok[k] = await mfaSession(t, ids[k]);
  }
  return { tok, ids };
}

async function approvedBy(t: TestApp, creator: string, approver: string, number: string): Promise<string> {
  const created = await request(t.app)
    .post('/api/v1/invoices')
    .set(...bearer(creator))
    .send({ number, customer: 'ACME', amount: 500, currency: 'EUR', department: 'sales' });
  expect(created.status).toBe(201);
  const approved = await request(t.app)
    .post(`/api/v1/invoices/${created.body.id}/approve`)
    .set(...bearer(approver));
  expect(approved.status).toBe(200);
  return created.body.id as string;
}

const denials = (t: TestApp, resourceId: string) =>
  t.container.database
    .db()
    .collection('audit_events')
    .find({ action: 'invoice.pay', outcome: 'denied', resourceId })
    .toArray();

describe('invoices: segregation of duties (default: the approver may not pay)', () => {
  let t: TestApp;
  let tok: Record<string, string>;
  let ids: Record<string, string>;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', RATE_LIMIT_GENERAL: '10000/60' });
    ({ tok, ids } = await setUp(t));
  });
  afterAll(() => t.close());

  it('when the manager who created an invoice pays it after a second manager approved it, then 403, audited, and it stays approved', async () => {
    const id = await approvedBy(t, tok.mgrA, tok.mgrB, 'SOD-1');
    const res = await request(t.app)
      .post(`/api/v1/invoices/${id}/pay`)
      .set(...bearer(tok.mgrA));
    expectProblem(res, 403, 'forbidden');
    expect(res.body.reason).toBe('creator-pays');
    const denied = await denials(t, id);
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ actorId: ids.mgrA, details: { reason: 'creator-pays' } });
    const stored = await t.container.models.Invoice.findById(id).lean();
    expect(stored).toMatchObject({ status: 'approved', paidAt: null, version: 1 });
  });

  it('when an admin who created an invoice pays it, then 403 too: the rule is about the person, not the role', async () => {
    const id = await approvedBy(t, tok.admin, tok.mgrB, 'SOD-2');
    expectProblem(
      await request(t.app)
        .post(`/api/v1/invoices/${id}/pay`)
        .set(...bearer(tok.admin)),
      403,
      'forbidden',
    );
  });

  it('when the manager who approved an invoice pays it, then 403 (approver-pays), audited', async () => {
    const id = await approvedBy(t, tok.mgrA, tok.mgrB, 'SOD-3');
    const res = await request(t.app)
      .post(`/api/v1/invoices/${id}/pay`)
      .set(...bearer(tok.mgrB));
    expectProblem(res, 403, 'forbidden');
    expect(res.body.reason).toBe('approver-pays');
    expect(await denials(t, id)).toEqual([
      expect.objectContaining({ actorId: ids.mgrB, details: { reason: 'approver-pays' } }),
    ]);
  });

  it('when a third manager pays, then 200 and the invoice is paid', async () => {
    const id = await approvedBy(t, tok.mgrA, tok.mgrB, 'SOD-4');
    const res = await request(t.app)
      .post(`/api/v1/invoices/${id}/pay`)
      .set(...bearer(tok.mgrC));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'paid', version: 2 });
    expect(await denials(t, id)).toEqual([]);
  });
});

describe('invoices: segregation of duties with INVOICE_APPROVER_MAY_PAY=true', () => {
  let t: TestApp;
  let tok: Record<string, string>;
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '10000/60',
      INVOICE_APPROVER_MAY_PAY: 'true',
    });
    ({ tok } = await setUp(t));
  });
  afterAll(() => t.close());

  it('when the approver pays, then 200', async () => {
    const id = await approvedBy(t, tok.mgrA, tok.mgrB, 'SOD-5');
    const res = await request(t.app)
      .post(`/api/v1/invoices/${id}/pay`)
      .set(...bearer(tok.mgrB));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('paid');
  });

  it('when the creator pays, then still 403', async () => {
    const id = await approvedBy(t, tok.mgrA, tok.mgrB, 'SOD-6');
    expectProblem(
      await request(t.app)
        .post(`/api/v1/invoices/${id}/pay`)
        .set(...bearer(tok.mgrA)),
      403,
      'forbidden',
    );
  });
});

describe('INVOICE_APPROVER_MAY_PAY', () => {
  it('when unset, then the approver may not pay; when not a boolean spelling, then the config is refused naming the key', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).invoices.approverMayPay).toBe(false);
    expect(loadConfig({ NODE_ENV: 'test', INVOICE_APPROVER_MAY_PAY: 'yes' }).invoices.approverMayPay).toBe(true);
    let problems: string[] = [];
    try {
      loadConfig({ NODE_ENV: 'test', INVOICE_APPROVER_MAY_PAY: 'sometimes' });
    } catch (err) {
      if (err instanceof ConfigError) problems = err.problems;
    }
    expect(problems.join('\n')).toMatch(/INVOICE_APPROVER_MAY_PAY/);
  });
});
