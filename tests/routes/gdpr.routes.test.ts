import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { auditCount } from '../support/audit';
import { createUser, mfaSession, bearer, PASSWORD } from '../support/users';

describe('GDPR export and erasure over HTTP', () => {
  let t: TestApp;
  let admin: string;
  let adminId: string;

  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV);
    adminId = await createUser(t, 'root@corp.example', 'admin', 'it');
    admin = await mfaSession(t, adminId);
  });
  afterAll(() => t.close());

  let seq = 0;
  /** A data subject of the test's own: a user with a 2FA session and an employee record holding personal data. */
  const subject = async () => {
    const n = ++seq;
    const email = `dana${n}@corp.example`;
    const userId = await createUser(t, email, 'user', 'sales');
    const token = await mfaSession(t, userId);
    const created = await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(admin))
      .send({
        name: `Dana Doe ${n}`,
        workEmail: `dana.doe${n}@corp.example`,
        department: 'sales',
        userId,
        phone: '+4917612345678',
        nationalId: `DANA-NID-${n}`,
        bankAccount: 'DE02120300000000202051',
        salary: 4_800_000,
      });
    expect(created.status).toBe(201);
    return { n, email, userId, token, employeeId: created.body.id as string };
  };

  it('when a user exports their data (2FA session), then it holds their profile, employee record and audit entries; another user gets 404', async () => {
    const dana = await subject();
    const erik = await subject();
    const res = await request(t.app)
      .post(`/api/v1/gdpr/users/${dana.userId}/export`)
      .set(...bearer(dana.token));
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toMatch(/attachment/);
    expect(res.body.user).toMatchObject({ email: dana.email, role: 'user' });
    expect(res.body.employeeRecords[0]).toMatchObject({
      id: dana.employeeId,
      nationalId: `DANA-NID-${dana.n}`,
      bankAccount: 'DE02120300000000202051',
    });
    expect(JSON.stringify(res.body)).not.toMatch(/passwordHash|refreshHash|"hash"/);
    expect(
      (
        await request(t.app)
          .post(`/api/v1/gdpr/users/${dana.userId}/export`)
          .set(...bearer(erik.token))
      ).status,
    ).toBe(404);
    expect(
      (
        await request(t.app)
          .post(`/api/v1/gdpr/users/${dana.userId}/export`)
          .set(...bearer(admin))
      ).status,
    ).toBe(200);
    expect(await auditCount(t, { action: 'gdpr.exported', resourceId: dana.userId })).toBe(2);
  });

  it('when an admin erases a user, then no personal value remains anywhere and the audit chain still verifies', async () => {
    const dana = await subject();
    // A signed-in session from a known device, and an API key with a personal name.
    expect(
      (
        await request(t.app)
          .post('/api/v1/auth/login')
          .set('User-Agent', 'DanaPhone/1.0')
          .send({ email: dana.email, password: PASSWORD })
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .post('/api/v1/api-keys')
          .set(...bearer(dana.token))
          .send({ name: "dana's laptop", scopes: [], expiresAt: new Date(Date.now() + 86_400_000).toISOString() })
      ).status,
    ).toBe(201);
    expect(
      JSON.stringify(await t.container.database.db().collection('sessions').find({ userId: dana.userId }).toArray()),
    ).toContain('DanaPhone/1.0');
    const res = await request(t.app)
      .post(`/api/v1/gdpr/users/${dana.userId}/erase`)
      .set(...bearer(admin));
    expect(res.status).toBe(200);
    const db = t.container.database.db();
    const dump = JSON.stringify(
      await Promise.all(
        ['users', 'employees', 'audit_events', 'sessions', 'otp_challenges', 'api_keys'].map((c) =>
          db.collection(c).find().toArray(),
        ),
      ),
    );
    for (const pii of [dana.email, `Dana Doe ${dana.n}`, `dana.doe${dana.n}@corp.example`, "dana's laptop"])
      expect(dump).not.toContain(pii);
    const sessions = await db.collection('sessions').find({ userId: dana.userId }).toArray();
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.filter((x) => x.ip !== null || x.userAgent !== null)).toEqual([]);
    const emp = await request(t.app)
      .get(`/api/v1/employees/${dana.employeeId}`)
      .set(...bearer(admin));
    expect(emp.body).toMatchObject({
      name: 'Erased employee',
      nationalId: null,
      bankAccount: null,
      phone: null,
      salary: null,
    });
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(dana.token))
      ).status,
    ).toBe(401);
    const verify = await request(t.app)
      .get('/api/v1/audit/verify')
      .set(...bearer(admin));
    expect(verify.body.intact).toBe(true);
    expect(await auditCount(t, { action: 'gdpr.erased', resourceId: dana.userId })).toBe(1);
    expect(await auditCount(t, { action: 'gdpr.erased', actorId: adminId })).toBeGreaterThan(0);
  });
});
