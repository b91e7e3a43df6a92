import request from 'supertest';
import { buildTestApp, type TestApp } from '../../support/app';
import { testMongoUri, testRedisUrl } from '../../support/env';
import { runTs } from '../../support/process';
import { createUser, mfaSession, bearer } from '../../support/users';

describe('audit trail across processes and through the API', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10', RATE_LIMIT_GENERAL: '10000/60' });
    admin = await mfaSession(t, await createUser(t, 'auditor@example.com', 'admin', 'it'));
  });
  afterAll(() => t.close());

  it('when two processes append 500 entries each at once, then the chain is intact and linear', async () => {
    const uri = testMongoUri(t.dbName);
    const before = (await t.container.deps.protection.audit.verify()).checked;
    const procs = ['A', 'B'].map((tag) =>
      runTs(
        'tests/fixtures/audit-appender.ts',
        { PATH: process.env.PATH ?? '', REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: t.redisPrefix },
        [uri, '500', tag],
      ),
    );
    const codes = await Promise.all(procs.map((p) => p.exited));
    expect(codes).toEqual([0, 0]);
    const verify = await request(t.app)
      .get('/api/v1/audit/verify')
      .set(...bearer(admin));
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ intact: true, checked: before + 1000, headSeq: before + 1000 });
    const raw = t.container.database.db().collection('audit_events');
    expect(await raw.countDocuments({ action: 'test.append' })).toBe(1000);
    expect(await raw.countDocuments({ action: 'test.append', 'details.tag': 'A' })).toBe(500);
  }, 300_000);

  it('when one entry is edited or deleted directly in MongoDB, then /audit/verify reports the break and its position', async () => {
    const raw = t.container.database.db().collection('audit_events');
    await raw.updateOne({ seq: 200 }, { $set: { actorId: 'someone-else' } });
    const edited = await request(t.app)
      .get('/api/v1/audit/verify')
      .set(...bearer(admin));
    expect(edited.body).toMatchObject({ intact: false, breakAt: { seq: 200, reason: 'hash-mismatch' } });
    await raw.updateOne({ seq: 200 }, { $set: { actorId: null } });
    const doc = await raw.findOne({ seq: 321 });
    await raw.deleteOne({ seq: 321 });
    const deleted = await request(t.app)
      .get('/api/v1/audit/verify')
      .set(...bearer(admin));
    expect(deleted.body).toMatchObject({ intact: false, breakAt: { seq: 321, reason: 'missing' } });
    await raw.insertOne(doc!);
  });

  it('when an admin lists the trail, then it is filtered and paginated, newest first', async () => {
    const res = await request(t.app)
      .get('/api/v1/audit?action=test.append&limit=5&page=2')
      .set(...bearer(admin));
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(5);
    expect(res.body.total).toBe(1000);
    const seqs = res.body.items.map((e: { seq: number }) => e.seq);
    expect([...seqs].sort((a: number, b: number) => b - a)).toEqual(seqs);
  });
});
