import request from 'supertest';
import { buildTestApp, type TestApp } from '../../support/app';
import { createUser, mfaSession, bearer } from '../../support/users';

describe('GDPR erasure of employee records is a versioned change', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', RATE_LIMIT_GENERAL: '10000/60' });
  });
  afterAll(() => t.close());

  it('when a record is erased, then its version moves on, so an edit with an ETag read before the erasure is a 412 that writes nothing', async () => {
    const adminId = await createUser(t, 'gdpr-admin@erase.example', 'admin', 'it');
    const admin = await mfaSession(t, adminId);
    const personId = await createUser(t, 'person@erase.example', 'user', 'sales');
    const created = await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(admin))
      .send({
        name: 'Pat Person',
        workEmail: 'pat@erase.example',
        department: 'sales',
        userId: personId,
        nationalId: 'ERASE001X',
        bankAccount: 'DE89370400440532013000',
      });
    expect(created.headers.etag).toBe('W/"0"');
    const id = created.body.id as string;
    await t.container.deps.protection.gdpr.erase(personId, adminId);
    const erased = await t.container.models.Employee.findById(id).lean();
    expect(erased).toMatchObject({ name: 'Erased employee', bankAccount: null, version: 1 });
    const stale = await request(t.app)
      .patch(`/api/v1/employees/${id}`)
      .set(...bearer(admin))
      .set('If-Match', 'W/"0"')
      .send({ bankAccount: 'DE02120300000000202051' });
    expect(stale.status).toBe(412);
    expect(await t.container.models.Employee.findById(id).lean()).toMatchObject({ bankAccount: null, version: 1 });
  });
});
