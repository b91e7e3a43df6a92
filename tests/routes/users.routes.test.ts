import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../support/app';
import { auditCount } from '../support/audit';
import { createUser, login, bearer, mfaSession, PASSWORD } from '../support/users';

const BOOTSTRAP_PASSWORD = 'first-admin-copper-kettle-91';

describe('user administration over HTTP and the bootstrap admin', () => {
  let t: TestApp;
  let adminId: string;
  let admin: string;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      ...ROUTE_TEST_ENV,
      BOOTSTRAP_ADMIN_EMAIL: 'Root@Example.com',
      BOOTSTRAP_ADMIN_PASSWORD: BOOTSTRAP_PASSWORD,
    });
    const root = await t.container.models.User.findOne({ emailLower: 'root@example.com' }).lean();
    adminId = root!._id;
    admin = await mfaSession(t, adminId);
  });
  afterAll(async () => {
    await t.close();
  });

  const create = (token: string, body: Record<string, unknown>) =>
    request(t.app)
      .post('/api/v1/users')
      .set(...bearer(token))
      .send(body);

  it('when the bootstrap settings are given and no admin exists, then one admin is created once; later boots ignore them', async () => {
    expect(t.logs.text).toContain('bootstrap admin created');
    expect((await login(t, 'root@example.com', BOOTSTRAP_PASSWORD)).status).toBe(200);
    expect(
      await t.container.deps.identity.users.bootstrapAdmin('other-root@example.com', BOOTSTRAP_PASSWORD),
    ).toBeNull();
    expect(await t.container.models.User.countDocuments({ role: 'admin' })).toBe(1);
  });

  it('when an admin with a 2FA session creates a user, then 201, the email is unique regardless of case, and the password is only a bcrypt hash', async () => {
    const res = await create(admin, {
      email: 'Clerk@Example.com',
      name: 'Clerk',
      role: 'user',
      department: 'sales',
      password: PASSWORD,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      email: 'Clerk@Example.com',
      role: 'user',
      department: 'sales',
      status: 'active',
      mfaMethods: [],
    });
    expect(JSON.stringify(res.body)).not.toMatch(/password|hash/i);
    const raw = await t.container.database.db().collection('users').findOne({ emailLower: 'clerk@example.com' });
    expect(raw?.passwordHash).toMatch(/^\$2[aby]\$/);
    expect(JSON.stringify(raw)).not.toContain(PASSWORD);
    const dup = await create(admin, { email: 'CLERK@example.COM', name: 'Again', role: 'user', password: PASSWORD });
    expect(dup.status).toBe(409);
    expect(await auditCount(t, { action: 'user.created', resourceId: res.body.id })).toBe(1);
  });

  it('when the password is short, common or the email, then 400 says why', async () => {
    const short = await create(admin, { email: 'a@example.com', name: 'A', role: 'user', password: 'short-pw' });
    expect(short.status).toBe(400);
    expect(short.body.detail).toMatch(/at least 12 characters/);
    const common = await create(admin, { email: 'b@example.com', name: 'B', role: 'user', password: 'password1234' });
    expect(common.status).toBe(400);
    expect(common.body.detail).toMatch(/commonly used, breached passwords/);
    const long = await create(admin, { email: 'c@example.com', name: 'C', role: 'user', password: 'x'.repeat(129) });
    expect(long.status).toBe(400);
    expect(long.body.detail).toMatch(/at most 128/);
    // No composition rules: a long passphrase of lower-case words is fine.
    expect(
      (
        await create(admin, {
          email: 'd@example.com',
          name: 'D',
          role: 'user',
          password: 'correct horse battery staple',
        })
      ).status,
    ).toBe(201);
  });

  it('when the caller is not an admin, or an admin without a 2FA session, then 403 and nothing is created', async () => {
    await createUser(t, 'not-an-admin@example.com', 'user', 'sales');
    const clerk = (await login(t, 'not-an-admin@example.com')).body.accessToken as string;
    expect((await create(clerk, { email: 'e@example.com', name: 'E', role: 'user', password: PASSWORD })).status).toBe(
      403,
    );
    const noMfa = (await login(t, 'root@example.com', BOOTSTRAP_PASSWORD)).body.accessToken as string;
    const res = await create(noMfa, { email: 'e@example.com', name: 'E', role: 'user', password: PASSWORD });
    expect(res.status).toBe(403);
    expect(res.body.type).toMatch(/mfa-required/);
    expect(await t.container.models.User.countDocuments({ emailLower: 'e@example.com' })).toBe(0);
  });

  it('when the body tries to set a field the API does not offer, then 400', async () => {
    const res = await create(admin, {
      email: 'f@example.com',
      name: 'F',
      role: 'user',
      password: PASSWORD,
      passwordHash: 'x',
      status: 'active',
    });
    expect(res.status).toBe(400);
    const role = await create(admin, { email: 'f@example.com', name: 'F', role: 'emperor', password: PASSWORD });
    expect(role.status).toBe(400);
  });

  it('when listing, then users come paginated and filtered, without hashes or secrets', async () => {
    await createUser(t, 'listed-1@example.com', 'user', 'sales');
    await createUser(t, 'listed-2@example.com', 'user', 'finance');
    const res = await request(t.app)
      .get('/api/v1/users?role=user&limit=1&page=1')
      .set(...bearer(admin));
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.total).toBe(await t.container.models.User.countDocuments({ role: 'user' }));
    expect(res.body.total).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(res.body)).not.toMatch(/passwordHash|totpSecret|backupCodes/);
    const admins = await request(t.app)
      .get('/api/v1/users?role=admin')
      .set(...bearer(admin));
    expect(admins.body.items.map((u: { email: string }) => u.email).sort()).toEqual(
      (await t.container.models.User.find({ role: 'admin' }).lean()).map((u) => u.email).sort(),
    );
    expect(admins.body.items.map((u: { email: string }) => u.email)).toContain('Root@Example.com');
  });

  it("when an admin changes a user's role, then the user's existing tokens die and a new login carries the new role", async () => {
    const id = await createUser(t, 'promote@example.com', 'user', 'sales');
    const before = (await login(t, 'promote@example.com')).body;
    const patch = await request(t.app)
      .patch(`/api/v1/users/${id}`)
      .set(...bearer(admin))
      .send({ role: 'manager', department: 'finance' });
    expect(patch.status).toBe(200);
    expect(patch.body).toMatchObject({ role: 'manager', department: 'finance' });
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/session')
          .set(...bearer(before.accessToken))
      ).status,
    ).toBe(401);
    expect((await request(t.app).post('/api/v1/auth/refresh').send({ refreshToken: before.refreshToken })).status).toBe(
      401,
    );
    const after = (await login(t, 'promote@example.com')).body;
    const session = await request(t.app)
      .get('/api/v1/auth/session')
      .set(...bearer(after.accessToken));
    expect(session.body).toMatchObject({ role: 'manager', department: 'finance' });
    const audit = await t.container.database
      .db()
      .collection('audit_events')
      .findOne({ action: 'user.updated', resourceId: id });
    expect(audit?.fields).toEqual(expect.arrayContaining(['role', 'department']));
  });

  it('when an admin disables a user, then their tokens die and login answers like a wrong password; re-enabling restores it', async () => {
    const id = await createUser(t, 'leaver@example.com');
    const s = (await login(t, 'leaver@example.com')).body;
    expect(
      (
        await request(t.app)
          .patch(`/api/v1/users/${id}`)
          .set(...bearer(admin))
          .send({ status: 'disabled' })
      ).status,
    ).toBe(200);
    expect(
      (
        await request(t.app)
          .get('/api/v1/auth/me')
          .set(...bearer(s.accessToken))
      ).status,
    ).toBe(401);
    const disabled = await login(t, 'leaver@example.com');
    await createUser(t, 'stayer@example.com');
    const wrong = await login(t, 'stayer@example.com', 'definitely-not-the-password');
    expect(disabled.status).toBe(401);
    expect({ ...disabled.body, requestId: undefined }).toEqual({ ...wrong.body, requestId: undefined });
    expect(
      (
        await request(t.app)
          .patch(`/api/v1/users/${id}`)
          .set(...bearer(admin))
          .send({ status: 'active' })
      ).status,
    ).toBe(200);
    expect((await login(t, 'leaver@example.com')).status).toBe(200);
  });

  it('when an admin tries to change their own role or status, then 403', async () => {
    expect(
      (
        await request(t.app)
          .patch(`/api/v1/users/${adminId}`)
          .set(...bearer(admin))
          .send({ role: 'user' })
      ).status,
    ).toBe(403);
    expect(
      (
        await request(t.app)
          .patch(`/api/v1/users/${adminId}`)
          .set(...bearer(admin))
          .send({ status: 'disabled' })
      ).status,
    ).toBe(403);
  });
});
