import { buildTestApp, type TestApp } from '../../support/app';
import { AuditTrail, RedisAuditHead } from '../../../src/services/audit/audit-trail';

describe('AuditTrail', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

  const audit = () => t.container.deps.audit;
  const raw = () => t.container.database.connection.db!.collection('audit_events');

  it('when many appends race in one process, then the chain is linear and intact', async () => {
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        audit().record({ action: 'test.race', outcome: 'succeeded', details: { i } }),
      ),
    );
    const v = await audit().verify();
    expect(v).toEqual({ intact: true, checked: 60, headSeq: 60, externalHeadSeq: 60 });
  });

  it('when an entry is edited directly in MongoDB, then verify reports a hash mismatch at its seq', async () => {
    await raw().updateOne({ seq: 17 }, { $set: { outcome: 'allowed' } });
    expect(await audit().verify()).toMatchObject({ intact: false, breakAt: { seq: 17, reason: 'hash-mismatch' } });
    await raw().updateOne({ seq: 17 }, { $set: { outcome: 'succeeded' } });
    expect((await audit().verify()).intact).toBe(true);
  });

  it('when an entry is deleted, then verify reports it missing at its seq', async () => {
    const doc = await raw().findOne({ seq: 30 });
    await raw().deleteOne({ seq: 30 });
    expect(await audit().verify()).toMatchObject({ intact: false, breakAt: { seq: 30, reason: 'missing' } });
    await raw().insertOne(doc!);
  });

  it('when the last entry is deleted, then the head still reveals it', async () => {
    const doc = await raw().findOne({ seq: 60 });
    await raw().deleteOne({ seq: 60 });
    expect(await audit().verify()).toMatchObject({ intact: false, breakAt: { seq: 60, reason: 'missing' } });
    await raw().insertOne(doc!);
    expect((await audit().verify()).intact).toBe(true);
  });

  it('when the last entry is cut and a freshly started process appends, then the gap is still reported, not papered over', async () => {
    await raw().deleteOne({ seq: 60 });
    const { AuditEvent, AuditCounter } = t.container.models;
    const restarted = new AuditTrail({
      events: AuditEvent,
      counters: AuditCounter,
      keys: t.config.audit.hmacKeys.map((k) => ({ id: k.id, key: k.key.reveal() })),
      activeKeyId: t.config.audit.activeHmacKeyId,
      head: new RedisAuditHead(t.container.redis),
      logger: t.logger,
    });
    const next = await restarted.record({ action: 'test.after-cut', outcome: 'succeeded' });
    expect(next.seq).toBe(61);
    expect(await restarted.verify()).toMatchObject({ intact: false, breakAt: { seq: 60, reason: 'missing' } });
  });
});
