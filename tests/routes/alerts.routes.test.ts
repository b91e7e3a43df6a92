import request from 'supertest';
import { buildAlertTestApp, type AlertTestApp } from '../support/alerts';
import { bearer, createUser, mfaSession } from '../support/users';
import { expectProblem } from '../support/problems';
import type { AlertInput } from '../../src/services/alerts/alert-raiser';

const DAY = 86_400_000;

describe('/api/v1/alerts: list, get, acknowledge, resolve, test, access', () => {
  let a: AlertTestApp;
  let admin: string;
  let adminId: string;
  const tok: Record<string, string> = {};

  const alert = (subject: string, over: Partial<AlertInput> = {}): AlertInput => ({
    source: 'system',
    kind: 'routes.test',
    subject,
    severity: 'warning',
    title: `Alert ${subject}`,
    message: 'Something needs a look.',
    ...over,
  });
  /** A fresh stretch of time: alerts raised from here on are the only ones a list `from` this start sees. */
  const newPeriod = async (): Promise<Date> => {
    a.clock.advance(10 * DAY);
    // Tokens live minutes: sign a new one on the moved clock.
    admin = await mfaSession(a.t, adminId);
    return a.clock.now();
  };
  const get = (path: string, token = admin) =>
    request(a.app)
      .get(path)
      .set(...bearer(token));
  const post = (path: string, body: object = {}, token = admin) =>
    request(a.app)
      .post(path)
      .set(...bearer(token))
      .send(body);

  beforeAll(async () => {
    a = await buildAlertTestApp(__filename);
    adminId = await createUser(a.t, 'admin@alerts.example', 'admin', 'it');
    admin = await mfaSession(a.t, adminId);
    for (const role of ['manager', 'user'])
      tok[role] = await mfaSession(a.t, await createUser(a.t, `${role}@alerts.example`, role, 'sales'));
  });
  // A failed test must not leave the clock frozen for the next one.
  afterEach(() => a.clock.thaw());
  afterAll(() => a.close());

  describe('access', () => {
    it('when anonymous, then 401 on every alert route, the stream included', async () => {
      for (const res of [
        await request(a.app).get('/api/v1/alerts'),
        await request(a.app).get('/api/v1/alerts/stream'),
        await request(a.app).get('/api/v1/alerts/stats'),
        await request(a.app)
          .post('/api/v1/alerts/test')
          .send({ channels: ['email'] }),
      ])
        expectProblem(res, 401);
    });

    it('when a non-admin calls, then 403; when an admin session has not passed 2FA, then mfa-required', async () => {
      const { id } = await a.commands.raise(alert('access'));
      for (const role of ['manager', 'user']) {
        expectProblem(await get('/api/v1/alerts', tok[role]), 403, /forbidden$/);
        expectProblem(await get('/api/v1/alerts/stream', tok[role]), 403, /forbidden$/);
        expectProblem(await post(`/api/v1/alerts/${id}/acknowledge`, {}, tok[role]), 403, /forbidden$/);
      }
      const { session } = await a.t.container.sessions.create(adminId, false);
      const noMfa = a.t.container.tokens.signAccess({
        sub: adminId,
        sid: session._id,
        role: 'admin',
        dept: 'it',
        mfa: false,
        enroll: false,
      });
      expectProblem(await get('/api/v1/alerts', noMfa), 403, /mfa-required$/);
      expectProblem(await get('/api/v1/alerts/stream', noMfa), 403, /mfa-required$/);
      expectProblem(await post(`/api/v1/alerts/${id}/resolve`, {}, noMfa), 403, /mfa-required$/);
      const stored = await a.t.container.models.Alert.findById(id).lean();
      expect(stored?.status).toBe('open');
    });
  });

  describe('list', () => {
    it('when filtered by status, severity, source and time range, then only matching alerts come back, newest first', async () => {
      const from = await newPeriod();
      const ids: Record<string, string> = {};
      for (const [name, over] of [
        ['disk', { severity: 'error', source: 'health' }],
        ['backup', { severity: 'critical', source: 'backup' }],
        ['login', { severity: 'warning', source: 'security' }],
        ['note', { severity: 'info', source: 'custom' }],
      ] as const) {
        a.clock.advance(60_000);
        ids[name] = (await a.commands.raise(alert(name, over))).id;
      }
      await a.commands.acknowledge(ids.disk, { id: adminId, role: 'admin' });
      await a.commands.resolve(ids.login, { id: adminId, role: 'admin' });
      const list = async (q: string): Promise<string[]> => {
        const res = await get(`/api/v1/alerts?from=${from.toISOString()}${q}`);
        expect(res.status).toBe(200);
        return (res.body.items as Array<{ id: string }>).map((i) => i.id);
      };

      expect(await list('')).toEqual([ids.note, ids.login, ids.backup, ids.disk]);
      expect(await list('&status=open')).toEqual([ids.note, ids.backup]);
      expect(await list('&status=open,acknowledged')).toEqual([ids.note, ids.backup, ids.disk]);
      expect(await list('&severity=error,critical')).toEqual([ids.backup, ids.disk]);
      expect(await list('&source=security')).toEqual([ids.login]);
      expect(await list('&source=backup&status=resolved')).toEqual([]);
      // `to` before the third alert was first seen: the first two only.
      const to = new Date(from.getTime() + 150_000).toISOString();
      expect(await list(`&to=${to}`)).toEqual([ids.backup, ids.disk]);
    });

    it('when paging with the cursor, then every alert appears exactly once even with equal first-seen times and new alerts meanwhile', async () => {
      const from = await newPeriod();
      a.clock.freeze();
      const all: string[] = [];
      try {
        for (let i = 0; i < 7; i++) all.push((await a.commands.raise(alert(`page-${i}`))).id);
      } finally {
        a.clock.thaw();
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const res = await get(
          `/api/v1/alerts?from=${from.toISOString()}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(res.status).toBe(200);
        seen.push(...(res.body.items as Array<{ id: string }>).map((i) => i.id));
        cursor = res.body.nextCursor as string | undefined;
        pages++;
        // A new alert between pages is newer than the cursor: it belongs to a fresh first page, not this walk.
        if (pages === 1) await a.commands.raise(alert('page-meanwhile'));
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toHaveLength(7);
      expect(new Set(seen)).toEqual(new Set(all));
      // Ties on firstSeenAt are broken by id, descending.
      expect(seen).toEqual([...all].sort().reverse());
    });

    it('when query parameters are wrong, then 400 problem+json', async () => {
      for (const q of [
        'status=closed',
        'severity=',
        'source=health,nope',
        'limit=0',
        'limit=201',
        'cursor=not!a!cursor',
        'cursor=' + Buffer.from('123.bad id').toString('base64url'),
        'from=yesterday',
        'from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z',
        'sort=title',
      ])
        expectProblem(await get(`/api/v1/alerts?${q}`), 400, /validation-failed$/);
    });
  });

  describe('one alert and its commands', () => {
    it('when fetched, then the alert comes with its delivery records', async () => {
      // The dashboard is the one channel every deployment has (no SMTP or Slack configured here).
      const res = await post('/api/v1/alerts/test', { channels: ['dashboard'] });
      expect(res.status).toBe(201);
      expect(res.headers.location).toBe(`/api/v1/alerts/${res.body.id}`);
      expect(res.body).toMatchObject({ severity: 'info', source: 'custom', status: 'open' });
      const one = await get(`/api/v1/alerts/${res.body.id}`);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ id: res.body.id, title: 'Test alert' });
      expect(one.body).not.toHaveProperty('openKey');
      expect(
        (one.body.deliveries as Array<{ channel: string; purpose: string; status: string; attempts: number }>)
          .map((d) => ({ channel: d.channel, purpose: d.purpose, status: d.status, attempts: d.attempts }))
          .sort((x, y) => x.channel.localeCompare(y.channel)),
      ).toEqual([
        {
          channel: 'dashboard',
          purpose: 'test',
          status: expect.stringMatching(/^(pending|delivered)$/),
          attempts: expect.any(Number),
        },
      ]);
    });

    it('when acknowledged and then resolved, then status, who, when and the comments are recorded; repeating either is 409', async () => {
      const { id } = await a.commands.raise(alert('lifecycle', { severity: 'error' }));
      // Frozen: the times the service records are exactly the clock's.
      a.clock.freeze();
      a.clock.advance(90_000);
      const ackAt = a.clock.now().toISOString();
      const ack = await post(`/api/v1/alerts/${id}/acknowledge`, { comment: 'looking into it' });
      expect(ack.status).toBe(200);
      expect(ack.body).toMatchObject({
        id,
        status: 'acknowledged',
        acknowledgedBy: adminId,
        acknowledgedAt: ackAt,
        acknowledgeComment: 'looking into it',
        resolvedAt: null,
      });
      expectProblem(await post(`/api/v1/alerts/${id}/acknowledge`), 409);

      a.clock.advance(60_000);
      const resolvedAt = a.clock.now().toISOString();
      const res = await post(`/api/v1/alerts/${id}/resolve`, { comment: 'disk replaced' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        status: 'resolved',
        resolvedBy: adminId,
        resolvedAt,
        resolveComment: 'disk replaced',
        acknowledgedBy: adminId,
      });
      a.clock.thaw();
      expectProblem(await post(`/api/v1/alerts/${id}/resolve`), 409);
      expectProblem(await post(`/api/v1/alerts/${id}/acknowledge`), 409);
      expect((await get(`/api/v1/alerts/${id}`)).body).toMatchObject({ status: 'resolved', resolvedAt });
    });

    it('when the id is unknown, then 404; when the id or body is malformed, then 400 and nothing changes', async () => {
      const unknown = '00000000-0000-4000-8000-000000000000';
      expectProblem(await get(`/api/v1/alerts/${unknown}`), 404, /not-found$/);
      expectProblem(await post(`/api/v1/alerts/${unknown}/acknowledge`), 404, /not-found$/);
      expectProblem(await post(`/api/v1/alerts/${unknown}/resolve`, { comment: 'x' }), 404, /not-found$/);
      expectProblem(await get('/api/v1/alerts/bad%20id!'), 400, /validation-failed$/);

      const { id } = await a.commands.raise(alert('bad-input'));
      for (const body of [{ comment: 'x'.repeat(1001) }, { comment: 42 }, { comment: '   ' }, { note: 'hi' }])
        expectProblem(await post(`/api/v1/alerts/${id}/acknowledge`, body), 400, /validation-failed$/);
      for (const body of [{}, { channels: [] }, { channels: ['pager'] }, { channels: ['email', 'email'] }])
        expectProblem(await post('/api/v1/alerts/test', body), 400, /validation-failed$/);
      const stored = await a.t.container.models.Alert.findById(id).lean();
      expect(stored).toMatchObject({ status: 'open', acknowledgedBy: null, version: 0 });
    });
  });
});
