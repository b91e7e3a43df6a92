import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { bearer, createUser, mfaSession } from '../support/users';

describe('roles API', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', RATE_LIMIT_GENERAL: '10000/60' });
    admin = await mfaSession(t, await createUser(t, 'roles-admin@roles.example', 'admin', 'it'));
  });
  afterAll(() => t.close());

  const put = (name: string, body: Record<string, unknown>) =>
    request(t.app)
      .put(`/api/v1/roles/${name}`)
      .set(...bearer(admin))
      .send(body);

  it.each([['a:b:c:d'], ['nocolon'], ['invoice:read:some'], [':read:own']])(
    'when a grant is malformed (%s), then 400 naming it and no role is written',
    async (grant) => {
      const res = await put('malformed', { parent: 'user', grants: ['invoice:read:own', grant] });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.errors).toEqual([{ path: 'body.grants', message: expect.stringContaining(grant) }]);
      expect(await t.container.models.Role.countDocuments({ _id: 'malformed' })).toBe(0);
    },
  );

  it('when a role is saved and listed, then it is answered with id, never _id', async () => {
    const saved = await put('reader', { parent: 'user', grants: ['audit:read:any'], description: 'reads audit' });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ id: 'reader', parent: 'user', grants: ['audit:read:any'] });
    expect(saved.body).not.toHaveProperty('_id');
    const list = await request(t.app)
      .get('/api/v1/roles')
      .set(...bearer(admin));
    expect(list.status).toBe(200);
    const reader = (list.body.items as Array<Record<string, unknown>>).find((r) => r.id === 'reader');
    expect(reader).toMatchObject({ id: 'reader', parent: 'user', description: 'reads audit' });
    for (const r of list.body.items as Array<Record<string, unknown>>) expect(r).not.toHaveProperty('_id');
  });

  it('when a role is a parent of another role or assigned to a user, then deleting it is 409; once free, 204', async () => {
    expect((await put('base-lead', { parent: 'manager', grants: [] })).status).toBe(200);
    expect((await put('sub-lead', { parent: 'base-lead', grants: [] })).status).toBe(200);
    const del = (name: string) =>
      request(t.app)
        .delete(`/api/v1/roles/${name}`)
        .set(...bearer(admin));
    expect((await del('base-lead')).status).toBe(409); // parent of sub-lead
    const holder = await createUser(t, 'holder@roles.example', 'sub-lead', 'sales');
    expect((await del('sub-lead')).status).toBe(409); // assigned
    await t.container.models.User.deleteOne({ _id: holder });
    expect((await del('sub-lead')).status).toBe(204);
    expect((await del('base-lead')).status).toBe(204);
    expect((await del('base-lead')).status).toBe(404);
  });
});

describe('custom roles', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
    admin = await mfaSession(t, await createUser(t, 'inherit-admin@corp.example', 'admin', 'it'));
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
