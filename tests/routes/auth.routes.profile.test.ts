import request from 'supertest';
import { buildAppWithSenders, type SenderTestApp } from '../support/app';
import { lastSmsCode } from '../support/peers';
import { bearer, createUser, login, mfaSession, PASSWORD } from '../support/users';

const TWILIO_SID = 'AC' + '7'.repeat(32);

describe('PATCH /api/v1/auth/me: a user edits their own name and phone', () => {
  let s: SenderTestApp;

  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, TWILIO_SID);
  });
  afterAll(() => s.close());

  const patchMe = (accessToken: string, body: unknown) =>
    request(s.t.app)
      .patch('/api/v1/auth/me')
      .set(...bearer(accessToken))
      .send(body as object);
  const signIn = async (email: string): Promise<string> => {
    const res = await login(s.t, email);
    expect(res.status).toBe(200);
    return res.body.accessToken as string;
  };
  const raw = (id: string) =>
    s.t.container.database
      .db()
      .collection('users')
      .findOne({ _id: id as never });

  it('when a user changes their name and phone, then both are saved (the phone encrypted and unverified), the answer masks the phone, and the change is audited without values', async () => {
    const id = await createUser(s.t, 'edit.me@profile.example');
    const token = await signIn('edit.me@profile.example');
    const res = await patchMe(token, { name: 'Edith Meier', phone: '+4930123456789' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id,
      email: 'edit.me@profile.example',
      name: 'Edith Meier',
      phone: expect.stringMatching(/^\+\*+89$/),
      phoneVerified: false,
    });
    const stored = await raw(id);
    expect(stored?.name).toBe('Edith Meier');
    expect(JSON.stringify(stored)).not.toContain('4930123456789');
    expect((await s.t.container.models.User.findById(id).lean())!.phone).toBe('+4930123456789');
    const audit = await s.t.container.database
      .db()
      .collection('audit_events')
      .findOne({ action: 'profile.updated', resourceId: id });
    expect(audit).toMatchObject({ outcome: 'succeeded', actorId: id, fields: ['name', 'phone'] });
    expect(JSON.stringify(audit)).not.toMatch(/Edith|4930123456789/);

    const me = await request(s.t.app)
      .get('/api/v1/auth/me')
      .set(...bearer(token));
    expect(me.body).toMatchObject({ name: 'Edith Meier', phone: res.body.phone, phoneVerified: false });

    // The phone can be removed again.
    const cleared = await patchMe(token, { phone: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ name: 'Edith Meier', phone: null, phoneVerified: false });
  });

  it('when the body is invalid, has other fields or nothing to change, then 400 problem+json and nothing is written', async () => {
    const id = await createUser(s.t, 'invalid@profile.example');
    const token = await signIn('invalid@profile.example');
    const before = await raw(id);
    for (const body of [
      {},
      { phone: '030 123456' },
      { name: '' },
      { name: 'x'.repeat(201) },
      { name: 'Ok Name', role: 'admin' },
      { name: 'Ok Name', email: 'other@profile.example' },
      { name: { $ne: null } },
    ]) {
      const res = await patchMe(token, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(await raw(id)).toEqual(before);
  });

  it('when the phone receives sign-in codes (SMS 2FA), then the profile cannot change it (409) and the name still can', async () => {
    const id = await createUser(s.t, 'sms.user@profile.example');
    const token = await signIn('sms.user@profile.example');
    await request(s.t.app)
      .post('/api/v1/auth/2fa/sms/setup')
      .set(...bearer(token))
      .send({ password: PASSWORD, phone: '+15005550177' });
    const enabled = await request(s.t.app)
      .post('/api/v1/auth/2fa/sms/enable')
      .set(...bearer(token))
      .send({ code: lastSmsCode(s.twilioPeer.requests, '+15005550177') });
    expect(enabled.status).toBe(200);

    const refused = await patchMe(token, { name: 'New Name', phone: '+15005550666' });
    expect(refused.status).toBe(409);
    expect(refused.body.type).toMatch(/\/phone-is-second-factor$/);
    expect(refused.body.detail).toMatch(/2fa\/sms\/setup/);
    const after = (await s.t.container.models.User.findById(id).lean())!;
    expect(after).toMatchObject({ phone: '+15005550177', phoneVerified: true, name: 'sms.user' });

    expect((await patchMe(token, { phone: '+15005550177', name: 'Same Phone' })).status).toBe(200);
    expect((await s.t.container.models.User.findById(id).lean())!).toMatchObject({
      name: 'Same Phone',
      phoneVerified: true,
    });
  });

  it('when a guest (no profile:update:own) or an API key calls it, then 403', async () => {
    const guestId = await createUser(s.t, 'guest@profile.example', 'guest');
    const denied = await patchMe(await mfaSession(s.t, guestId), { name: 'Guest Renamed' });
    expect(denied.status).toBe(403);
    expect(denied.body.detail).toMatch(/profile:update:own/);
    expect((await s.t.container.models.User.findById(guestId).lean())!.name).toBe('guest');

    const ownerId = await createUser(s.t, 'keyholder@profile.example');
    const key = await s.t.container.deps.identity.apiKeys.create({
      ownerId,
      ownerRole: 'user',
      name: 'profile key',
      scopes: ['profile:update:own'],
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const viaKey = await request(s.t.app).patch('/api/v1/auth/me').set('X-API-Key', key.key).send({ name: 'Machine' });
    expect(viaKey.status).toBe(403);
    expect((await s.t.container.models.User.findById(ownerId).lean())!.name).toBe('keyholder');
  });
});
