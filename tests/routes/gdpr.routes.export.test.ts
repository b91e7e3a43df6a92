import request from 'supertest';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { bearer, createUser, login, mfaSession, PASSWORD } from '../support/users';

/** The unmasked data-subject export: 2FA or a fresh password, audited, and the person is told. */
describe('POST /api/v1/gdpr/users/{id}/export', () => {
  let s: SenderTestApp;
  let admin: string;
  let adminId: string;

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, 'ACgdprexport000000000000000000000');
    adminId = await createUser(s.t, 'root@gdpr-export.example', 'admin', 'it');
    admin = await mfaSession(s.t, adminId);
  });
  afterAll(() => s.close());

  const app = () => s.t.app;
  const exportOf = (id: string, token: string, body?: Record<string, unknown>) => {
    const req = request(app())
      .post(`/api/v1/gdpr/users/${id}/export`)
      .set(...bearer(token));
    return body ? req.send(body) : req;
  };
  /** A user with an employee record holding the values every read path masks. */
  const person = async (local: string): Promise<{ id: string; email: string; employeeId: string }> => {
    const email = `${local}@gdpr-export.example`;
    const id = await createUser(s.t, email, 'user', 'sales');
    const res = await request(app())
      .post('/api/v1/employees')
      .set(...bearer(admin))
      .send({
        name: `${local} Person`,
        workEmail: `${local}.work@gdpr-export.example`,
        department: 'sales',
        userId: id,
        phone: '+4917612345678',
        nationalId: `NID-${local.toUpperCase()}-0042`,
        bankAccount: 'DE02120300000000202051',
        salary: 4_800_000,
      });
    expect(res.status).toBe(201);
    return { id, email, employeeId: res.body.id as string };
  };
  const passwordSession = async (email: string): Promise<string> => {
    const res = await login(s.t, email);
    expect(res.status).toBe(200);
    expect(res.body.mfaRequired).toBe(false);
    return res.body.accessToken as string;
  };
  const exportsAudited = (resourceId: string) =>
    s.t.container.database.db().collection('audit_events').find({ action: 'gdpr.exported', resourceId }).toArray();
  const mailsTo = (email: string) => s.smtp.messages.filter((m) => m.to.includes(email));

  it('when a password-only session exports its own data, then the password is required again; with it the full values come back, audited, and the person is e-mailed', async () => {
    const p = await person('dana');
    const token = await passwordSession(p.email);

    // Every read path masks what the export shows in full.
    const read = await request(app())
      .get(`/api/v1/employees/${p.employeeId}`)
      .set(...bearer(token));
    expect(read.status).toBe(200);
    expect(read.body.bankAccount).not.toBe('DE02120300000000202051');

    const bare = await exportOf(p.id, token);
    expect(bare.status).toBe(403);
    expect(bare.body.type).toMatch(/reauthentication-required$/);
    const wrong = await exportOf(p.id, token, { password: 'not-the-password-at-all' });
    expect(wrong.status).toBe(403);
    expect(await exportsAudited(p.id)).toHaveLength(0);
    expect(mailsTo(p.email)).toHaveLength(0);

    const ok = await exportOf(p.id, token, { password: PASSWORD });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-disposition']).toMatch(/attachment/);
    expect(ok.body.employeeRecords[0]).toMatchObject({
      id: p.employeeId,
      nationalId: 'NID-DANA-0042',
      bankAccount: 'DE02120300000000202051',
      salary: 4_800_000,
    });
    expect(JSON.stringify(ok.body)).not.toMatch(/passwordHash|refreshHash|"hash"/);
    expect(await exportsAudited(p.id)).toEqual([
      expect.objectContaining({
        outcome: 'succeeded',
        actorId: p.id,
        details: { confirmedBy: 'password', subjectNotified: true },
      }),
    ]);
    const mails = mailsTo(p.email);
    expect(mails).toHaveLength(1);
    expect(mails[0].raw).toMatch(/Subject: A copy of your personal data was exported/);
    expect(mails[0].raw).not.toContain('DE02120300000000202051');
  });

  it('when a 2FA session exports its own data, then no password is needed', async () => {
    const p = await person('erik');
    const res = await exportOf(p.id, await mfaSession(s.t, p.id));
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ email: p.email });
    expect((await exportsAudited(p.id))[0]).toMatchObject({
      actorId: p.id,
      details: { confirmedBy: 'second-factor', subjectNotified: true },
    });
    expect(mailsTo(p.email)).toHaveLength(1);
  });

  it("when a user asks for someone else's export, then it is 404 whatever the password, and nothing is exported or mailed", async () => {
    const victim = await person('fina');
    const other = await person('gust');
    const token = await passwordSession(other.email);
    for (const body of [undefined, { password: PASSWORD }]) {
      const res = await exportOf(victim.id, token, body);
      expect(res.status).toBe(404);
    }
    expect((await exportOf(victim.id, await mfaSession(s.t, other.id))).status).toBe(404);
    expect(await exportsAudited(victim.id)).toHaveLength(0);
    expect(mailsTo(victim.email)).toHaveLength(0);
  });

  it('when an admin (2FA) exports a person, then the audit names who exported whose data, and the person is told it was an administrator', async () => {
    const p = await person('hedy');
    const res = await exportOf(p.id, admin);
    expect(res.status).toBe(200);
    expect((await exportsAudited(p.id))[0]).toMatchObject({ actorId: adminId, resourceId: p.id });
    const mails = mailsTo(p.email);
    expect(mails).toHaveLength(1);
    expect(mails[0].raw).toMatch(/by an administrator/);
  });

  it('when the notice cannot be delivered, then the export is still given and the audit entry says the person was not notified', async () => {
    const p = await person('ines');
    s.smtp.failNext(1);
    const res = await exportOf(p.id, await mfaSession(s.t, p.id));
    expect(res.status).toBe(200);
    expect((await exportsAudited(p.id))[0]).toMatchObject({ details: { subjectNotified: false } });
  });

  it('when the export is asked for with GET (a password would sit in the URL), then 405', async () => {
    const p = await person('jona');
    const res = await request(app())
      .get(`/api/v1/gdpr/users/${p.id}/export`)
      .set(...bearer(await mfaSession(s.t, p.id)));
    expect(res.status).toBe(405);
    expect(await exportsAudited(p.id)).toHaveLength(0);
  });
});
