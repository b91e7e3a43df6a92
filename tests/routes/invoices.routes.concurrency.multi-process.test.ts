import request from 'supertest';
import { freePort } from '../../scripts/local-services';
import { buildTestApp, type TestApp } from '../support/app';
import { childEnv } from '../support/env';
import { runTs, waitFor, type RunningProcess } from '../support/process';
import { createUser, mfaSession, bearer } from '../support/users';

interface Reply {
  status: number;
  body: Record<string, unknown>;
  contentType: string;
  etag: string | null;
}

interface StoredInvoice {
  _id: string;
  status: string;
  amount: number;
  approvedBy: string | null;
  version: number;
}

const ROUNDS = 20;
const RACERS = 6;

/**
 * Two real server processes on one database and one Redis: racing requests are spread over
 * both, so only what the database arbitrates (not an in-process queue) can keep them apart.
 */
describe('invoices and employees under racing requests from two server processes', () => {
  let t: TestApp;
  const procs: RunningProcess[] = [];
  const ports: number[] = [];
  const tok: Record<string, string> = {};

  beforeAll(async () => {
    const limits = { RATE_LIMIT_GENERAL: '100000/60', RATE_LIMIT_PAYMENT: '100000/60' };
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', ...limits });
    for (const [k, role, dept] of [
      ['clerk', 'user', 'sales'],
      ['mgr', 'manager', 'sales'],
      ['payer', 'manager', 'sales'],
      ['admin', 'admin', 'it'],
    ] as const) {
      tok[k] = await mfaSession(t, await createUser(t, `${k}@race.example`, role, dept));
    }
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      ports.push(port);
      procs.push(runTs('src/server.ts', childEnv(t, { PORT: String(port), LOG_LEVEL: 'info', ...limits })));
    }
    await Promise.all(
      procs.map((p, i) =>
        waitFor(() => p.stdout().includes('erp-backend listening') || p.child.exitCode !== null, 60_000, `server ${i}`),
      ),
    );
    for (const p of procs) if (!p.stdout().includes('listening')) throw new Error(p.stderr());
  }, 90_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await t.close();
  });

  /** One request to server process `i % 2`. */
  async function call(
    i: number,
    method: string,
    path: string,
    token: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const res = await fetch(`http://127.0.0.1:${ports[i % 2]}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      contentType: res.headers.get('content-type') ?? '',
      etag: res.headers.get('etag'),
    };
  }

  const race = (n: number, one: (i: number) => Promise<Reply>) =>
    Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const audits = (action: string, resourceId: string) =>
    t.container.database.db().collection('audit_events').countDocuments({ action, resourceId, outcome: 'succeeded' });
  const stored = (id: string) => t.container.database.db().collection<StoredInvoice>('invoices').findOne({ _id: id });

  async function draft(number: string, amount = 100): Promise<string> {
    const res = await request(t.app)
      .post('/api/v1/invoices')
      .set(...bearer(tok.clerk))
      .send({ number, customer: 'ACME', amount, currency: 'EUR', department: 'sales' });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  async function approved(number: string): Promise<string> {
    const id = await draft(number);
    const res = await request(t.app)
      .post(`/api/v1/invoices/${id}/approve`)
      .set(...bearer(tok.mgr));
    expect(res.status).toBe(200);
    return id;
  }

  /** Exactly one winner; every loser a 409 problem. */
  function expectOneWinner(replies: Reply[], winStatus: number, loserStatuses = [409]): void {
    expect(replies.filter((r) => r.status === winStatus)).toHaveLength(1);
    for (const r of replies.filter((x) => x.status !== winStatus)) {
      expect(loserStatuses).toContain(r.status);
      expect(r.contentType).toMatch(/application\/problem\+json/);
    }
  }

  it(`when ${RACERS} pays of one approved invoice race over two processes, then exactly one is paid and audited, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const id = await approved(`PAY-${round}`);
      const replies = await race(RACERS, (i) => call(i, 'POST', `/api/v1/invoices/${id}/pay`, tok.payer));
      expectOneWinner(replies, 200);
      expect(await audits('invoice.paid', id)).toBe(1);
      expect(await stored(id)).toMatchObject({ status: 'paid', version: 2 });
    }
  }, 300_000);

  it(`when ${RACERS} approvals of one draft race over two processes, then exactly one approves and is audited, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const id = await draft(`APR-${round}`);
      const replies = await race(RACERS, (i) =>
        call(i, 'POST', `/api/v1/invoices/${id}/approve`, i % 3 === 0 ? tok.payer : tok.mgr),
      );
      expectOneWinner(replies, 200);
      expect(await audits('invoice.approved', id)).toBe(1);
      const winner = replies.find((r) => r.status === 200)!;
      expect(await stored(id)).toMatchObject({ status: 'approved', approvedBy: expect.any(String), version: 1 });
      expect((await stored(id))!.approvedBy).toBe(winner.body.approvedBy);
    }
  }, 300_000);

  it(`when ${RACERS} deletes of one draft race over two processes, then exactly one deletes it and is audited, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const id = await draft(`DEL-${round}`);
      const replies = await race(RACERS, (i) => call(i, 'DELETE', `/api/v1/invoices/${id}`, tok.admin));
      // A loser that loads after the winner finished finds nothing: 404 is as right as 409.
      expectOneWinner(replies, 204, [404, 409]);
      expect(await audits('invoice.deleted', id)).toBe(1);
      expect(await stored(id)).toBeNull();
    }
  }, 300_000);

  it(`when an edit (If-Match of what the clerk read) races an approval (If-Match of what the manager read), then the invoice is either the edited draft or the approved original, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const id = await draft(`EVA-${round}`, 100);
      const read = await call(round, 'GET', `/api/v1/invoices/${id}`, tok.mgr);
      expect(read.etag).toBe('W/"0"');
      const [edit, approve] = await Promise.all([
        call(round, 'PATCH', `/api/v1/invoices/${id}`, tok.clerk, { amount: 999 }, { 'If-Match': read.etag! }),
        call(round + 1, 'POST', `/api/v1/invoices/${id}/approve`, tok.mgr, undefined, { 'If-Match': read.etag! }),
      ]);
      const doc = (await stored(id))!;
      expect([edit.status, approve.status].filter((s) => s === 200)).toHaveLength(1);
      if (edit.status === 200) {
        expect([409, 412]).toContain(approve.status);
        expect(doc).toMatchObject({ status: 'draft', amount: 999, version: 1 });
        expect(await audits('invoice.approved', id)).toBe(0);
      } else {
        expect([409, 412]).toContain(edit.status);
        expect(doc).toMatchObject({ status: 'approved', amount: 100, version: 1 });
        expect(await audits('invoice.updated', id)).toBe(0);
      }
    }
  }, 300_000);

  it(`when an edit races an approval without If-Match, then every success is its own version and the stored invoice is the last success, never a mix, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const id = await draft(`EVB-${round}`, 100);
      const replies = await Promise.all([
        call(round, 'PATCH', `/api/v1/invoices/${id}`, tok.clerk, { amount: 999 }),
        call(round + 1, 'POST', `/api/v1/invoices/${id}/approve`, tok.mgr),
      ]);
      const [edit, approve] = replies;
      const wins = replies.filter((r) => r.status === 200);
      expect(wins.length).toBeGreaterThanOrEqual(1);
      for (const r of replies.filter((x) => x.status !== 200)) expect(r.status).toBe(409);
      expect(new Set(wins.map((w) => w.body.version)).size).toBe(wins.length);
      const last = wins.reduce((a, b) => ((a.body.version as number) > (b.body.version as number) ? a : b));
      const doc = (await stored(id))!;
      expect({ status: doc.status, amount: doc.amount, version: doc.version }).toEqual({
        status: last.body.status,
        amount: last.body.amount,
        version: last.body.version,
      });
      // An approval that answered 200 approved exactly what it answered with; an edit that answered 200 was not lost.
      if (approve.status === 200) expect(doc.status).toBe('approved');
      if (edit.status === 200) expect(doc.amount).toBe(999);
      expect((await audits('invoice.updated', id)) + (await audits('invoice.approved', id))).toBe(wins.length);
    }
  }, 300_000);

  it(`when ${RACERS} edits of one employee record race over two processes with the same If-Match, then exactly one is stored and audited, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const created = await request(t.app)
        .post('/api/v1/employees')
        .set(...bearer(tok.admin))
        .send({
          name: `Racer ${round}`,
          workEmail: `racer${round}@race.example`,
          department: 'sales',
          // Unique: two records without a national ID collide on its unique blind index (see the report).
          nationalId: `RACE${round}X`,
        });
      expect(created.body).toMatchObject({ name: `Racer ${round}` });
      const id = created.body.id as string;
      expect(created.headers.etag).toBe('W/"0"');
      const replies = await race(RACERS, (i) =>
        call(i, 'PATCH', `/api/v1/employees/${id}`, tok.admin, { name: `Winner ${i}` }, { 'If-Match': 'W/"0"' }),
      );
      expectOneWinner(replies, 200, [409, 412]);
      const winner = replies.find((r) => r.status === 200)!;
      const doc = await t.container.database
        .db()
        .collection<{ _id: string; name: string; version: number }>('employees')
        .findOne({ _id: id });
      expect(doc).toMatchObject({ name: winner.body.name, version: 1 });
      expect(
        await t.container.database
          .db()
          .collection('audit_events')
          .countDocuments({ action: 'employee.updated', resourceId: id }),
      ).toBe(1);
    }
  }, 300_000);
});
