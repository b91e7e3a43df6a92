import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { buildTestApp, ROUTE_TEST_ENV, type TestApp } from '../../support/app';
import { bearer, createUser, mfaSession } from '../../support/users';
import type { SecurityEvent } from '../../../src/services/auth/security-events';

describe('reads outside the caller scope are security events (audited, throttled per caller)', () => {
  let t: TestApp;
  const events: SecurityEvent[] = [];
  let admin: string;

  beforeAll(async () => {
    t = await buildTestApp(__filename, ROUTE_TEST_ENV, { onSecurityEvent: (e) => events.push(e) });
    admin = await mfaSession(t, await createUser(t, 'scope-admin@corp.example', 'admin', 'it'));
  });
  afterAll(() => t.close());

  const financeEmployee = async (n: number): Promise<string> => {
    const res = await request(t.app)
      .post('/api/v1/employees')
      .set(...bearer(admin))
      .send({ name: `Finance ${n}`, workEmail: `finance${n}@corp.example`, department: 'finance' });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const outOfScope = (actorId: string) =>
    t.container.database.db().collection('audit_events').find({ action: 'access.out-of-scope', actorId }).toArray();

  it('when a sales manager probes finance records, then every read is 404, one entry names the first record and the caller, and the listener hears each', async () => {
    const managerId = await createUser(t, 'probe-mgr@corp.example', 'manager', 'sales');
    const manager = await mfaSession(t, managerId);
    const ids = [await financeEmployee(1), await financeEmployee(2), await financeEmployee(3)];
    for (const id of [...ids, ...ids]) {
      const res = await request(t.app)
        .get(`/api/v1/employees/${id}`)
        .set(...bearer(manager));
      expect(res.status).toBe(404);
    }
    const entries = await outOfScope(managerId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      outcome: 'denied',
      actorId: managerId,
      actorRole: 'manager',
      resource: 'employees',
      resourceId: ids[0],
    });
    const heard = events.filter((e) => e.type === 'access.out-of-scope' && e.actorId === managerId);
    expect(heard.map((e) => e.resourceId)).toEqual([...ids, ...ids]);
    expect(heard.map((e) => e.countInWindow)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('when a record does not exist at all, then the 404 is no security event; a record in scope is read as usual', async () => {
    const userId = await createUser(t, 'plain-mgr@corp.example', 'manager', 'finance');
    const manager = await mfaSession(t, userId);
    const missing = await request(t.app)
      .get(`/api/v1/employees/${randomUUID()}`)
      .set(...bearer(manager));
    expect(missing.status).toBe(404);
    const own = await request(t.app)
      .get(`/api/v1/employees/${await financeEmployee(4)}`)
      .set(...bearer(manager));
    expect(own.status).toBe(200);
    expect(await outOfScope(userId)).toHaveLength(0);
    expect(events.filter((e) => e.actorId === userId)).toHaveLength(0);
  });
});
