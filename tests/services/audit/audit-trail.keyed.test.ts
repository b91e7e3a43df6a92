import { createHash, createSecretKey, randomBytes } from 'node:crypto';
import { buildTestApp, type TestApp } from '../../support/app';
import { AuditTrail, RedisAuditHead, macEntry, type AuditHeadStore } from '../../../src/services/audit/audit-trail';
import type { AuditEventDoc } from '../../../src/models/audit-event.model';

/**
 * The audit chain against someone who can write the database (and, in the last tests,
 * Redis) but does not hold AUDIT_HMAC_KEYS. Each test appends to a fresh trail of its
 * own: the collections are emptied and a new head key is used.
 */
describe('AuditTrail: keyed chain and external head', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
  });
  afterAll(() => t.close());

  const db = () => t.container.database.db();
  const events = () => db().collection<AuditEventDoc>('audit_events');
  const counters = () => db().collection<{ _id: string; seq: number }>('audit_counters');
  const K1 = { id: 'a1', key: randomBytes(32) };
  const K2 = { id: 'a2', key: randomBytes(32) };

  /** A trail over the test database with its own Redis head key, after clearing the collections. */
  async function freshTrail(
    keys = [K1],
    activeKeyId = keys[keys.length - 1].id,
    headKey = `audit:head:${randomBytes(4).toString('hex')}`,
  ): Promise<{ trail: AuditTrail; head: AuditHeadStore; headKey: string }> {
    await events().deleteMany({});
    await counters().deleteMany({});
    const head = new RedisAuditHead(t.container.redis, headKey);
    const { AuditEvent, AuditCounter } = t.container.models;
    const trail = new AuditTrail({
      events: AuditEvent,
      counters: AuditCounter,
      keys,
      activeKeyId,
      head,
      logger: t.logger,
    });
    return { trail, head, headKey };
  }
  /** Another process over the same data (cold start), e.g. after a key change. */
  const reopen = (keys: Array<{ id: string; key: Buffer }>, head: AuditHeadStore, activeKeyId = keys[0].id) =>
    new AuditTrail({
      events: t.container.models.AuditEvent,
      counters: t.container.models.AuditCounter,
      keys,
      activeKeyId,
      head,
      logger: t.logger,
    });
  const append = async (trail: AuditTrail, n: number, action = 'test.keyed') => {
    for (let i = 0; i < n; i++) await trail.record({ action, outcome: 'succeeded', details: { i } });
  };

  /** What anyone with database access can compute: the entry's content hashed without a key. */
  function unkeyedHash(e: AuditEventDoc): string {
    const { _id, hash, ...rest } = e;
    void _id;
    void hash;
    return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
  }

  it('when an entry is edited and the chain after it re-hashed without the key, then verify reports the edited entry', async () => {
    const { trail } = await freshTrail();
    await append(trail, 12);
    expect(await trail.verify()).toMatchObject({ intact: true, checked: 12 });
    // Rewrite entry 5 and re-chain 5..12 with recomputed (unkeyed) hashes, keeping the head's last hash.
    const all = await events().find().sort({ seq: 1 }).toArray();
    let prev = all[3].hash;
    for (const e of all.slice(4)) {
      const edited = { ...e, prevHash: prev, ...(e.seq === 5 ? { actorId: 'someone-else' } : {}) };
      edited.hash = unkeyedHash(edited);
      await events().replaceOne({ _id: e._id }, edited);
      prev = edited.hash;
    }
    expect(await trail.verify()).toMatchObject({ intact: false, breakAt: { seq: 5, reason: 'hash-mismatch' } });
  });

  it('when the last entries are deleted and the counter rewound, then verify reports the cut from the external head', async () => {
    const { trail, head } = await freshTrail();
    await append(trail, 10);
    await events().deleteMany({ seq: { $gt: 7 } });
    await counters().updateOne({ _id: 'audit' }, { $set: { seq: 7 } });
    expect(await trail.verify()).toMatchObject({
      intact: false,
      checked: 7,
      headSeq: 7,
      externalHeadSeq: 10,
      breakAt: { seq: 8, reason: 'truncated' },
    });
    // A process started after the cut never reuses the cut positions: the gap stays visible.
    const restarted = reopen([K1], head);
    const next = await restarted.record({ action: 'test.after-cut', outcome: 'succeeded' });
    expect(next.seq).toBe(11);
    expect(await restarted.verify()).toMatchObject({ intact: false, breakAt: { seq: 8, reason: 'missing' } });
  });

  it('when the audit key rotates, then entries verify under the key id they name; an unknown key id is reported', async () => {
    const { trail, head } = await freshTrail([K1]);
    await append(trail, 3);
    const rotated = reopen([K1, K2], head, 'a2');
    await append(rotated, 3);
    const ids = (await events().find().sort({ seq: 1 }).toArray()).map((e) => e.keyId);
    expect(ids).toEqual(['a1', 'a1', 'a1', 'a2', 'a2', 'a2']);
    expect(await rotated.verify()).toMatchObject({ intact: true, checked: 6, externalHeadSeq: 6 });
    // K1 retired too early: its entries can no longer be checked.
    expect(await reopen([K2], head).verify()).toMatchObject({
      intact: false,
      breakAt: { seq: 1, reason: 'unknown-key' },
    });
  });

  it('when the external head is deleted or forged, or the entry it vouches for is rewritten with the key, then verify says so; the next append re-anchors a deleted head', async () => {
    const { trail, headKey } = await freshTrail();
    await append(trail, 4);
    const redis = t.container.redis;
    const stored = (await redis.get(headKey))!;
    expect(stored.startsWith('4:')).toBe(true);

    await redis.del(headKey);
    expect(await trail.verify()).toMatchObject({ intact: false, breakAt: { seq: 4, reason: 'head-missing' } });

    // An attacker with Redis access but not the key: a head pointing at entry 2, with a made-up MAC.
    const e2 = (await events().findOne({ seq: 2 }))!;
    await redis.set(headKey, `2:${e2.hash}:a1:${'0'.repeat(64)}`);
    expect(await trail.verify()).toMatchObject({ intact: false, breakAt: { seq: 4, reason: 'head-invalid' } });

    // The genuine head back; someone holding the key (but not Redis) rewrites the last entry validly.
    await redis.set(headKey, stored);
    const e4 = (await events().findOne({ seq: 4 }))!;
    const rewritten = { ...e4, actorId: 'someone-else' };
    rewritten.hash = macEntry(rewritten, createSecretKey(K1.key));
    await events().replaceOne({ seq: 4 }, rewritten);
    expect(await trail.verify()).toMatchObject({ intact: false, breakAt: { seq: 4, reason: 'head-mismatch' } });

    // Head deleted on a sound chain: the next append publishes a new head and the chain verifies again.
    const { trail: sound, headKey: soundKey } = await freshTrail();
    await append(sound, 2);
    await redis.del(soundKey);
    await append(sound, 1);
    expect(await sound.verify()).toMatchObject({ intact: true, checked: 3, externalHeadSeq: 3 });
  });
});
