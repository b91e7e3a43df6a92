import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { bearer, createUser, mfaSession } from '../support/users';

describe('error handling', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

  it('when a route does not exist, then 404 problem+json with a request id', async () => {
    const res = await request(t.app).get('/nope');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: expect.stringContaining('not-found'),
      title: 'Not Found',
      status: 404,
      instance: '/nope',
    });
    expect(res.body.requestId).toBe(res.headers['x-request-id']);
  });

  it('when something unexpected fails inside a route, then 500 problem+json with no stack or internals, and the log line carries the same request id', async () => {
    const admin = await mfaSession(t, await createUser(t, 'root@errors.example', 'admin', 'it'));
    const created = await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(admin))
      .send({ name: 'Broken', workEmail: 'broken@errors.example', department: 'it', nationalId: 'NID-BROKEN-1' });
    expect(created.status).toBe(201);
    // Corrupt the stored ciphertext behind the application's back: decryption must fail.
    const raw = t.container.database.db().collection('employees');
    const stored = (await raw.findOne({ _id: created.body.id }))!.nationalId as string;
    await raw.updateOne(
      { _id: created.body.id },
      { $set: { nationalId: stored.slice(0, -4) + (stored.endsWith('AAAA') ? 'BBBB' : 'AAAA') } },
    );
    const res = await request(t.app)
      .get(`/api/v1/employees/${created.body.id}`)
      .set(...bearer(admin))
      .set('X-Request-Id', 'trace-500-check');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 500, title: 'Internal Server Error', requestId: 'trace-500-check' });
    expect(JSON.stringify(res.body)).not.toMatch(
      /DecryptionError|decrypt|at \w+ \(|node_modules|src\/|Unsupported state|v1\./,
    );
    t.logger.flush();
    const logged = t.logs.records().filter((r) => r.requestId === 'trace-500-check');
    // The error (with its real cause, for operators) and the access line, both under the request's id.
    expect(logged.find((r) => r.msg === 'request failed')).toMatchObject({ level: 'error', code: 'decryption-failed' });
    expect(logged.some((r) => r.msg === 'request completed')).toBe(true);
  });

  it('when the body is malformed JSON, then 400 problem+json without parser internals', async () => {
    const res = await request(t.app)
      .post('/api/v1/anything')
      .set('Content-Type', 'application/json')
      .send('{"email": "a@b.c",');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, title: 'Malformed JSON' });
    expect(JSON.stringify(res.body)).not.toMatch(/at JSON\.parse|SyntaxError|node_modules/);
  });

  it('when a valid X-Request-Id is sent, then it is echoed; when invalid, then a fresh one is used', async () => {
    const ok = await request(t.app).get('/nope').set('X-Request-Id', 'frontend-123.abc');
    expect(ok.headers['x-request-id']).toBe('frontend-123.abc');
    expect(ok.body.requestId).toBe('frontend-123.abc');
    const bad = await request(t.app).get('/nope').set('X-Request-Id', 'bad id\twith spaces<script>');
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('when requests are logged, then Authorization, cookies and password values never appear', async () => {
    await request(t.app)
      .post('/api/v1/auth/login')
      .set('Authorization', 'Bearer super-secret-token-value')
      .set('Cookie', 'sid=secret-cookie-value')
      .set('Content-Type', 'application/json')
      .send({ email: 'a@example.com', password: 'correct horse battery staple' });
    t.logger.info(
      { user: { email: 'a@example.com', password: 'hunter2-password' }, token: 'tok-value-123' },
      'something',
    );
    t.logger.flush();
    const text = t.logs.text;
    expect(text).toContain('request completed');
    expect(text).toContain('[REDACTED]');
    for (const secret of [
      'super-secret-token-value',
      'secret-cookie-value',
      'correct horse battery staple',
      'hunter2-password',
      'tok-value-123',
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});
