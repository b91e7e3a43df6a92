import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';

describe('hostile input screening (through the real app)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

  const expectProblem = (res: request.Response, status: number): void => {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.status).toBe(status);
  };

  it.each([
    ['an operator object', { email: { $gt: '' }, password: 'x' }, 'body.email.$gt'],
    ['$where', { $where: 'sleep(1000)' }, 'body.$where'],
    ['a dotted key', { 'profile.role': 'admin' }, 'body.profile.role'],
    ['a nested operator in an array', { filters: [{ amount: { $ne: 0 } }] }, 'body.filters[0].amount.$ne'],
  ])('when the body carries %s, then 400 naming the key', async (_name, body, path) => {
    const res = await request(t.app).post('/api/v1/auth/login').send(body);
    expectProblem(res, 400);
    expect(res.body.errors[0].path).toBe(path);
  });

  it('when injection payloads arrive, then the database is unchanged', async () => {
    const db = t.container.database.db();
    const snapshot = async () => JSON.stringify(await Promise.all(['users', 'sessions', 'employees', 'invoices'].map((c) => db.collection(c).find().toArray())));
    const before = await snapshot();
    await request(t.app).post('/api/v1/auth/login').send({ email: { $gt: '' }, password: { $ne: null } });
    await request(t.app).post('/api/v1/invoices').send({ number: 'X', $where: 'this.amount > 0' });
    await request(t.app).patch('/api/v1/employees/00000000-0000-4000-8000-000000000000').send({ 'salary.$': 1 });
    await request(t.app).get('/api/v1/invoices?status[$ne]=paid');
    expect(await snapshot()).toBe(before);
  });

  it('when the body carries a literal __proto__ key, then 400 and Object.prototype is untouched', async () => {
    const res = await request(t.app).post('/api/v1/auth/login').set('Content-Type', 'application/json').send('{"__proto__": {"isAdmin": true}}');
    expectProblem(res, 400);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('when the query carries bracketed operators, then 400', async () => {
    const res = await request(t.app).get('/api/v1/employees?department[$ne]=x');
    expectProblem(res, 400);
  });

  it('when the body is over the limit, then 413', async () => {
    const res = await request(t.app).post('/api/v1/auth/login').set('Content-Type', 'application/json').send(JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }));
    expectProblem(res, 413);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])('when a write sends %s, then 415', async (type) => {
    const res = await request(t.app).post('/api/v1/auth/login').set('Content-Type', type).send('email=a&password=b');
    expectProblem(res, 415);
  });

  it.each(['TRACE', 'PROPFIND', 'MKCOL', 'LINK'])('when the method is %s, then 405 problem+json with Allow', async (method) => {
    const server = t.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    try {
      const res = await new Promise<{ status: number; allow?: string; type?: string; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path: '/health' }, (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, allow: r.headers.allow, type: r.headers['content-type'], body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(res.status).toBe(405);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(res.allow).toContain('GET');
      expect(JSON.parse(res.body).status).toBe(405);
    } finally {
      server.close();
    }
  });
});
