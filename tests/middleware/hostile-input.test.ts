import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { expectProblem } from '../support/problems';
import { bearer, createUser, mfaSession } from '../support/users';

describe('hostile input screening (through the real app)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

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

  it('when an authorised admin sends injection and pollution payloads, then each gets 400 problem+json and the database is unchanged', async () => {
    const admin = await mfaSession(t, await createUser(t, 'root@hostile.example', 'admin', 'it'));
    const created = await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(admin))
      .send({ name: 'Target', workEmail: 'target@hostile.example', department: 'sales', salary: 100 });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const db = t.container.database.db();
    const snapshot = async () =>
      JSON.stringify(
        await Promise.all(['users', 'sessions', 'employees', 'invoices'].map((c) => db.collection(c).find().toArray())),
      );
    const before = await snapshot();
    const json = (method: 'post' | 'patch', path: string, raw: string) =>
      request(t.app)
        [method](path)
        .set(...bearer(admin))
        .set('Content-Type', 'application/json')
        .send(raw);
    const attempts: Array<[string, Promise<request.Response>]> = [
      [
        'login operators',
        request(t.app)
          .post('/api/v1/auth/login')
          .send({ email: { $gt: '' }, password: { $ne: null } }),
      ],
      [
        '$where on create',
        request(t.app)
          .post('/api/v1/invoices')
          .set(...bearer(admin))
          .send({ number: 'X', $where: 'this.amount > 0' }),
      ],
      [
        'positional operator',
        request(t.app)
          .patch(`/api/v1/employees/${id}`)
          .set(...bearer(admin))
          .send({ 'salary.$': 1 }),
      ],
      [
        'operator as value',
        request(t.app)
          .patch(`/api/v1/employees/${id}`)
          .set(...bearer(admin))
          .send({ salary: { $inc: 1000 } }),
      ],
      ['__proto__', json('patch', `/api/v1/employees/${id}`, '{"__proto__": {"salary": 999999}, "name": "x"}')],
      [
        'constructor.prototype',
        json('patch', `/api/v1/employees/${id}`, '{"constructor": {"prototype": {"polluted": true}}}'),
      ],
      [
        'filter operator',
        request(t.app)
          .get('/api/v1/invoices?status[$ne]=paid')
          .set(...bearer(admin)),
      ],
      [
        'filter $gt',
        request(t.app)
          .get('/api/v1/employees?salary[$gt]=0')
          .set(...bearer(admin)),
      ],
    ];
    for (const [name, pending] of attempts) {
      const res = await pending;
      expect({ name, status: res.status, type: res.headers['content-type'] }).toEqual({
        name,
        status: 400,
        type: expect.stringMatching(/^application\/problem\+json/),
      });
    }
    expect(await snapshot()).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).salary).toBeUndefined();
  });

  it('when the body carries a literal __proto__ or constructor key on a free-form body, then the screen names it', async () => {
    const admin = await mfaSession(t, await createUser(t, 'root2@hostile.example', 'admin', 'it'));
    for (const [raw, path] of [
      ['{"__proto__": {"isAdmin": true}}', 'body.__proto__'],
      ['{"constructor": {"prototype": {"isAdmin": true}}}', 'body.constructor'],
    ]) {
      const res = await request(t.app)
        .patch('/api/v1/employees/00000000-0000-4000-8000-000000000000')
        .set(...bearer(admin))
        .set('Content-Type', 'application/json')
        .send(raw);
      expectProblem(res, 400);
      expect(res.body.errors[0].path).toBe(path);
    }
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('when an existing path is asked with a method it does not serve, then 405 with Allow, not 404', async () => {
    const health = await request(t.app).delete('/health');
    expectProblem(health, 405);
    expect(health.headers.allow).toBe('GET, HEAD');
    const login = await request(t.app).get('/api/v1/auth/login');
    expectProblem(login, 405);
    expect(login.headers.allow).toBe('POST');
    expectProblem(await request(t.app).get('/api/v1/no-such-thing'), 404);
  });

  it('when the query carries bracketed operators, then 400', async () => {
    const res = await request(t.app).get('/api/v1/employees?department[$ne]=x');
    expectProblem(res, 400);
  });

  it('when the body is over the limit, then 413', async () => {
    const res = await request(t.app)
      .post('/api/v1/auth/login')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }));
    expectProblem(res, 413);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'when a write sends %s, then 415',
    async (type) => {
      const res = await request(t.app).post('/api/v1/auth/login').set('Content-Type', type).send('email=a&password=b');
      expectProblem(res, 415);
    },
  );

  it.each(['TRACE', 'PROPFIND', 'MKCOL', 'LINK'])(
    'when the method is %s, then 405 problem+json with Allow',
    async (method) => {
      const server = t.app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const { port } = server.address() as AddressInfo;
      try {
        const res = await new Promise<{ status: number; allow?: string; type?: string; body: string }>(
          (resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port, method, path: '/health' }, (r) => {
              let body = '';
              r.on('data', (d: Buffer) => (body += d.toString()));
              r.on('end', () =>
                resolve({ status: r.statusCode ?? 0, allow: r.headers.allow, type: r.headers['content-type'], body }),
              );
            });
            req.on('error', reject);
            req.end();
          },
        );
        expect(res.status).toBe(405);
        expect(res.type).toMatch(/^application\/problem\+json/);
        expect(res.allow).toContain('GET');
        expect(JSON.parse(res.body).status).toBe(405);
      } finally {
        server.close();
      }
    },
  );
});
