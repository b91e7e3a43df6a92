import type { Connection } from 'mongoose';
import { buildTestApp, type TestApp } from '../../support/app';
import { registerAuditModels } from '../../../src/models/audit-event.model';
import { AuditTrail, RedisAuditHead } from '../../../src/services/audit/audit-trail';

describe('AuditTrail', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

  // Each test gets a trail of its own: a database of its own on the app's connection, holding
  // exactly 60 entries that many appends racing in one process wrote.
  let conn: Connection;
  let trail: AuditTrail;
  let dbNo = 0;
  /** A trail over `c` keyed like the app's, with its own external head in Redis. */
  const trailOn = (c: Connection): AuditTrail => {
    const { AuditEvent, AuditCounter } = registerAuditModels(c);
    return new AuditTrail({
      events: AuditEvent,
      counters: AuditCounter,
      keys: t.config.audit.hmacKeys.map((k) => ({ id: k.id, key: k.key.reveal() })),
      activeKeyId: t.config.audit.activeHmacKeyId,
      head: new RedisAuditHead(t.container.redis, `audit:head:${c.name}`),
      logger: t.logger,
    });
  };
  beforeEach(async () => {
    conn = t.container.database.connection.useDb(`${t.dbName}_${++dbNo}`, { useCache: false });
    const { AuditEvent } = registerAuditModels(conn);
    await AuditEvent.createIndexes();
    trail = trailOn(conn);
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => trail.record({ action: 'test.race', outcome: 'succeeded', details: { i } })),
    );
  });
  afterEach(async () => {
    await conn.dropDatabase();
  });

  const audit = () => trail;
  const raw = () => conn.db!.collection('audit_events');

  it('when many appends race in one process, then the chain is linear and intact', async () => {
    const v = await audit().verify();
    expect(v).toEqual({ intact: true, checked: 60, headSeq: 60, externalHeadSeq: 60 });
    expect((await raw().find().sort({ seq: 1 }).toArray()).map((e) => e.seq)).toEqual(
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
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
    const restarted = trailOn(conn);
    const next = await restarted.record({ action: 'test.after-cut', outcome: 'succeeded' });
    expect(next.seq).toBe(61);
    expect(await restarted.verify()).toMatchObject({ intact: false, breakAt: { seq: 60, reason: 'missing' } });
  });
});
