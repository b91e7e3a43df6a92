import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { createUser, mfaSession, bearer } from '../support/users';

describe('custom roles', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
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
