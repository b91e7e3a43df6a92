import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { Express } from 'express';
import jwt from 'jsonwebtoken';
import type { TestApp } from '../support/app';
import { bearer, createUser } from '../support/users';
import { accessTokenOf, twoProcessesWithOwnRedis, type TwoProcesses } from '../support/two-processes';

/**
 * The caller's role, department and 2FA state come from the session's current facts (read
 * with the revocation check), not from the claims frozen into the access token. Two app
 * instances share one database and one Redis (its own redis-server, so its command counters
 * are this file's alone).
 */
describe('authenticate reads role and 2FA state from the session, not the token', () => {
  let p: TwoProcesses;
  let t: TestApp;
  let appB: Express;

  beforeAll(async () => {
    p = await twoProcessesWithOwnRedis(__filename);
    ({ t, appB } = p);
  }, 60_000);
  afterAll(() => p.close());

  const signIn = (email: string): Promise<string> => accessTokenOf(t, email);
  /** The token a completed second factor yields for the session (plain user, no department). */
  const twoFactorToken = (userId: string, sid: string): string =>
    t.container.tokens.signAccess({ sub: userId, sid, role: 'user', dept: null, mfa: true, enroll: false });
  const sidOf = (token: string): string => (jwt.decode(token, { json: true }) as { sid: string }).sid;
  const invoice = (createdBy: string, department: string) => ({
    _id: randomUUID(),
    number: `INV-${randomUUID().slice(0, 8)}`,
    customer: 'ACME',
    amount: 100,
    currency: 'EUR',
    department,
    createdBy,
  });
  const listedIds = async (app: Express, token: string): Promise<string[]> => {
    const res = await request(app)
      .get('/api/v1/invoices?limit=100')
      .set(...bearer(token));
    expect(res.status).toBe(200);
    return (res.body.items as Array<{ id: string }>).map((i) => i.id);
  };

  it('when a manager is demoted to user, then the next request with the old token is authorised as a user, in both processes', async () => {
    const colleague = await createUser(t, 'colleague@example.com', 'user', 'sales');
    const managerId = await createUser(t, 'manager@example.com', 'manager', 'sales');
    const theirs = await t.container.models.Invoice.create(invoice(colleague, 'sales'));
    const token = await signIn('manager@example.com');

    // Warm both processes' view of the session: manager, department reach.
    for (const app of [t.app, appB]) {
      const session = await request(app)
        .get('/api/v1/auth/session')
        .set(...bearer(token));
      expect(session.body).toMatchObject({ role: 'manager', department: 'sales' });
      expect(await listedIds(app, token)).toContain(theirs._id);
    }

    // Demoted out of band (no revocation), and the session told its facts changed.
    await t.container.models.User.updateOne({ _id: managerId }, { $set: { role: 'user' } });
    await t.container.tokens.sessionsChanged([sidOf(token)]);

    for (const app of [appB, t.app]) {
      const session = await request(app)
        .get('/api/v1/auth/session')
        .set(...bearer(token));
      expect(session.status).toBe(200);
      expect(session.body).toMatchObject({ role: 'user', department: 'sales' });
      // A user reaches only their own invoices: the colleague's is gone from the list.
      expect(await listedIds(app, token)).not.toContain(theirs._id);
    }
  });

  it('when the token claims a role the user no longer has, then the stored role decides once the cached facts are gone', async () => {
    const userId = await createUser(t, 'claims@example.com', 'manager', 'ops');
    const token = await signIn('claims@example.com');
    await t.container.models.User.updateOne({ _id: userId }, { $set: { role: 'user', department: 'hr' } });
    // The cached live mark expiring (LIVE_TTL_SECONDS) is what a missed invalidation would cost at most.
    await t.container.redis.del(`sess:state:${sidOf(token)}`);
    const res = await request(t.app)
      .get('/api/v1/auth/session')
      .set(...bearer(token));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ role: 'user', department: 'hr' });
  });

  it('when a session passes a second factor, then its new 2FA token is one at once in both processes, and the old token stays without', async () => {
    const userId = await createUser(t, 'enroller@example.com', 'user', null);
    const token = await signIn('enroller@example.com');
    const sid = sidOf(token);
    const sessionOf = async (app: Express, accessToken: string) =>
      (
        await request(app)
          .get('/api/v1/auth/session')
          .set(...bearer(accessToken))
      ).body as { mfa: boolean };
    for (const app of [t.app, appB]) expect(await sessionOf(app, token)).toMatchObject({ mfa: false });
    await t.container.models.User.updateOne({ _id: userId }, { $set: { 'mfa.methods': ['email'] } });
    expect(await t.container.sessions.markMfa(sid, userId)).toBe(true);
    const upgraded = twoFactorToken(userId, sid);
    for (const app of [appB, t.app]) {
      expect(await sessionOf(app, upgraded)).toMatchObject({ mfa: true });
      expect(await sessionOf(app, token)).toMatchObject({ mfa: false });
    }
  });

  it('when a 2FA session loses its second factor in the store, then its token loses it on the next request', async () => {
    const userId = await createUser(t, 'downgraded@example.com', 'user', null);
    const token = await signIn('downgraded@example.com');
    const sid = sidOf(token);
    await t.container.models.User.updateOne({ _id: userId }, { $set: { 'mfa.methods': ['email'] } });
    expect(await t.container.sessions.markMfa(sid, userId)).toBe(true);
    const twoFactor = twoFactorToken(userId, sid);
    const mfaOf = async (app: Express) =>
      (
        await request(app)
          .get('/api/v1/auth/session')
          .set(...bearer(twoFactor))
      ).body as { mfa: boolean };
    expect(await mfaOf(appB)).toMatchObject({ mfa: true });
    await t.container.models.Session.updateOne({ _id: sid }, { $set: { mfa: false } });
    await t.container.tokens.sessionsChanged([sid]);
    expect(await mfaOf(appB)).toMatchObject({ mfa: false });
    expect(await mfaOf(t.app)).toMatchObject({ mfa: false });
  });

  it('when a session is revoked after its facts changed, then the revocation still wins in both processes', async () => {
    await createUser(t, 'revoked-after-change@example.com', 'user', null);
    const token = await signIn('revoked-after-change@example.com');
    const sid = sidOf(token);
    await t.container.tokens.sessionsChanged([sid]);
    await t.container.sessions.revoke(sid, 'test');
    await t.container.tokens.sessionsChanged([sid]); // a late change never un-revokes
    for (const app of [t.app, appB]) {
      const res = await request(app)
        .get('/api/v1/auth/session')
        .set(...bearer(token));
      expect(res.status).toBe(401);
    }
  });

  it('when an authenticated request passes the rate limiter and the authenticator, then the session is read from Redis once', async () => {
    await createUser(t, 'once@example.com', 'user', null);
    const token = await signIn('once@example.com');
    const call = () =>
      request(t.app)
        .get('/api/v1/auth/session')
        .set(...bearer(token));
    expect((await call()).status).toBe(200); // fills the cache
    // One session check reads two keys, the revocation epoch and the session's state, as two GETs
    // (one pipelined round trip; two keys so that Redis Cluster may keep them on different nodes).
    const gets = async (): Promise<number> => {
      const info = await t.container.redis.info('commandstats');
      return Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1] ?? 0);
    };
    const before = await gets();
    for (let i = 0; i < 5; i++) expect((await call()).status).toBe(200);
    expect((await gets()) - before).toBe(5 * 2);
  });
});
