import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { bearer, createUser, mfaSession } from '../support/users';

const DAY = 86_400_000;

/** How far an API key reaches: its scopes bound the record scope, not only the permission. */
describe('API keys: reach follows the key scopes', () => {
  let t: TestApp;
  const tok: Record<string, string> = {};
  const inv: Record<string, string> = {};

  const createInvoice = async (who: string, number: string): Promise<string> => {
    const res = await request(t.app)
      .post('/api/v1/invoices')
      .set(...bearer(tok[who]))
      .send({ number, customer: 'ACME', amount: 1_000, currency: 'EUR', department: 'sales' });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const mintKey = async (who: string, scopes: string[]): Promise<string> => {
    const res = await request(t.app)
      .post('/api/v1/api-keys')
      .set(...bearer(tok[who]))
      .send({ name: `key-${scopes.join('+')}`, scopes, expiresAt: new Date(Date.now() + DAY).toISOString() });
    expect(res.status).toBe(201);
    return res.body.key as string;
  };

  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', RATE_LIMIT_GENERAL: '10000/60' });
    for (const [k, role] of [
      ['mgr', 'manager'],
      ['clerk', 'user'],
    ] as const)
      tok[k] = await mfaSession(t, await createUser(t, `${k}@reach.example`, role, 'sales'));
    inv.mine = await createInvoice('mgr', 'REACH-MGR-1');
    inv.clerks = await createInvoice('clerk', 'REACH-CLERK-1');
  });
  afterAll(() => t.close());

  it("when a manager's key carries only invoice:read:own, then it lists only the invoices the manager created", async () => {
    const key = await mintKey('mgr', ['invoice:read:own']);
    const res = await request(t.app).get('/api/v1/invoices').set('X-API-Key', key);
    expect(res.status).toBe(200);
    expect(res.body.items.map((i: { id: string }) => i.id)).toEqual([inv.mine]);
    expect(res.body.total).toBe(1);
  });

  it("when a manager's key carries only invoice:read:own, then a department invoice the manager did not create is 404", async () => {
    const key = await mintKey('mgr', ['invoice:read:own']);
    expect((await request(t.app).get(`/api/v1/invoices/${inv.clerks}`).set('X-API-Key', key)).status).toBe(404);
    expect((await request(t.app).get(`/api/v1/invoices/${inv.mine}`).set('X-API-Key', key)).status).toBe(200);
  });

  it("when a manager's key also carries scope:department:own, then it reaches the department like the manager", async () => {
    const key = await mintKey('mgr', ['invoice:read:own', 'scope:department:own']);
    const res = await request(t.app).get('/api/v1/invoices').set('X-API-Key', key);
    expect(res.status).toBe(200);
    expect(res.body.items.map((i: { id: string }) => i.id).sort()).toEqual([inv.mine, inv.clerks].sort());
    expect((await request(t.app).get(`/api/v1/invoices/${inv.clerks}`).set('X-API-Key', key)).status).toBe(200);
  });

  it('when a user lists their API keys, then each key has an id and no _id, hash or previous hash', async () => {
    await mintKey('clerk', ['invoice:read:own']);
    const res = await request(t.app)
      .get('/api/v1/api-keys')
      .set(...bearer(tok.clerk));
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeGreaterThan(0);
    for (const k of res.body.items as Array<Record<string, unknown>>) {
      expect(typeof k.id).toBe('string');
      expect(k).not.toHaveProperty('_id');
      expect(k).not.toHaveProperty('hash');
      expect(k).not.toHaveProperty('previousHash');
    }
  });
});
