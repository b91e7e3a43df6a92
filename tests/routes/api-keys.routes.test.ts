import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { auditCount } from '../support/audit';
import { createUser, mfaSession, bearer } from '../support/users';

describe('API keys over HTTP', () => {
  let t: TestApp;
  const tok: Record<string, string> = {};

  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
    tok.admin = await mfaSession(t, await createUser(t, 'root@corp.example', 'admin', 'it'));
    tok.erik = await mfaSession(t, await createUser(t, 'erik@corp.example', 'user', 'sales'));
  });
  afterAll(() => t.close());

  it('when an API key is used, then it works within its scopes, gets 403 outside them, and 401 once revoked', async () => {
    const created = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(tok.admin))
      .send({
        name: 'reporting',
        scopes: ['invoice:read:any'],
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect((await request(t.app).get('/api/v1/invoices').set('X-API-Key', key)).status).toBe(200);
    const outside = await request(t.app).get('/api/v1/employees').set('X-API-Key', key);
    expect(outside.status).toBe(403);
    expect((await request(t.app).get('/api/v1/api-keys').set('X-API-Key', key)).status).toBe(403);
    expect(
      (
        await request(t.app)
          .delete(`/api/v1/api-keys/${created.body.id}`)
          .set(...bearer(tok.admin))
      ).status,
    ).toBe(204);
    const revoked = await request(t.app).get('/api/v1/invoices').set('X-API-Key', key);
    expect(revoked.status).toBe(401);
    expect(revoked.body.type).toMatch(/invalid-api-key/);
    expect(await auditCount(t, { action: 'apikey.revoked', resourceId: created.body.id })).toBe(1);
    const tooWide = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(tok.erik))
      .send({ name: 'x', scopes: ['invoice:read:any'], expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect(tooWide.status).toBe(403);
  });
});
