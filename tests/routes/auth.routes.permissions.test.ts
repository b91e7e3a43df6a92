import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { bearer, createUser, login, mfaSession } from '../support/users';
import { waitFor } from '../support/wait';

describe('GET /api/v1/auth/permissions and GET /api/v1/health/report', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      ...ROUTE_TEST_ENV,
      // Disk use is above 1 % on any machine: the health verdict is "fail" on purpose.
      HEALTH_DISK_PERCENT: '0/1',
    });
  });
  afterAll(() => t.close());

  const permissionsOf = (token: string) =>
    request(t.app)
      .get('/api/v1/auth/permissions')
      .set(...bearer(token));

  it('when an employee asks, then the answer lists their own grants and no operations permission', async () => {
    const token = await mfaSession(t, await createUser(t, 'employee@permissions.example', 'user'));
    const res = await permissionsOf(token);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toMatch(/no-store/);
    expect(res.body).toMatchObject({ role: 'user', mfa: true, needSecondFactor: [] });
    expect(res.body.permissions).toEqual(expect.arrayContaining(['invoice:read:own', 'profile:update:own']));
    for (const p of ['backup:read:any', 'alert:read:any', 'audit:read:any', 'health:read:any'])
      expect(res.body.permissions).not.toContain(p);
    // What the list says is what the API does.
    const backups = await request(t.app)
      .get('/api/v1/admin/backups')
      .set(...bearer(token));
    expect(backups.status).toBe(403);
  });

  it('when an admin with a password-only session asks, then the 2FA-only grants are listed apart, not as usable', async () => {
    const email = 'password-only-admin@permissions.example';
    await createUser(t, email, 'admin');
    const signedIn = await login(t, email);
    expect(signedIn.body).toMatchObject({ mfaRequired: false, enrollmentRequired: false });
    const res = await permissionsOf(signedIn.body.accessToken);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ role: 'admin', mfa: false });
    expect(res.body.needSecondFactor).toEqual(
      expect.arrayContaining(['backup:read:any', 'alert:read:any', 'audit:read:any', 'health:read:any']),
    );
    expect(res.body.permissions).not.toContain('backup:read:any');
    expect(res.body.permissions).toContain('profile:update:own');
    const backups = await request(t.app)
      .get('/api/v1/admin/backups')
      .set(...bearer(signedIn.body.accessToken));
    expect(backups.status).toBe(403);
  });

  it('when an admin with a 2FA session asks, then every admin grant is usable', async () => {
    const token = await mfaSession(t, await createUser(t, 'admin@permissions.example', 'admin'));
    const res = await permissionsOf(token);
    expect(res.status).toBe(200);
    expect(res.body.needSecondFactor).toEqual([]);
    expect(res.body.permissions).toEqual(
      expect.arrayContaining(['backup:read:any', 'alert:read:any', 'audit:read:any', 'health:read:any']),
    );
    expect([...res.body.permissions].sort()).toEqual(res.body.permissions);
  });

  it('when anonymous, then the permissions are a 401 problem', async () => {
    const res = await request(t.app).get('/api/v1/auth/permissions');
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('when health is failing, then /health answers 503 and the report endpoint answers 200 with the same verdict', async () => {
    const token = await mfaSession(t, await createUser(t, 'health-admin@permissions.example', 'admin'));
    await waitFor(
      async () => (await request(t.app).get('/health')).status === 503,
      60_000,
      'the disk check to fail the health verdict',
    );
    const res = await request(t.app)
      .get('/api/v1/health/report')
      .set(...bearer(token));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toMatch(/no-store/);
    expect(res.body.status).toBe('fail');
    expect(res.body.checks['system:disk'][0]).toMatchObject({ status: 'fail', observedValue: expect.any(Number) });
    expect(res.body.recommendations).toEqual(
      expect.arrayContaining([expect.objectContaining({ checks: expect.arrayContaining(['system:disk']) })]),
    );

    const employee = await mfaSession(t, await createUser(t, 'health-employee@permissions.example', 'user'));
    const refused = await request(t.app)
      .get('/api/v1/health/report')
      .set(...bearer(employee));
    expect(refused.status).toBe(403);
  });
});
