import { randomUUID } from 'node:crypto';
import { AppError } from '../../../src/lib/errors';
import type { InvoiceDoc } from '../../../src/models/invoice.model';
import { VersionedWriter } from '../../../src/services/versioning/versioned-writer';
import { buildTestApp, TestClock, type TestApp } from '../../support/app';

const LEASE_MS = 60_000;

describe('VersionedWriter on the test database', () => {
  let t: TestApp;
  const clock = new TestClock();
  let writer: VersionedWriter;

  beforeAll(async () => {
    t = await buildTestApp(__filename, {}, { now: clock.now });
    writer = new VersionedWriter({ claims: t.container.models.VersionClaim, now: clock.now, leaseMs: LEASE_MS });
  });
  afterAll(() => t.close());

  const Invoice = () => t.container.models.Invoice;
  const claimsOf = (id: string) => t.container.models.VersionClaim.countDocuments({ docId: id });

  async function invoice(): Promise<InvoiceDoc> {
    const doc = await Invoice().create({
      _id: randomUUID(),
      number: `W-${randomUUID().slice(0, 8)}`,
      customer: 'ACME',
      amount: 100,
      currency: 'EUR',
      department: 'sales',
      createdBy: 'someone',
    });
    return doc.toObject();
  }

  async function expectProblem(p: Promise<unknown>, status: number, code: string): Promise<void> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status, code });
  }

  it('when ten writers change the same version at once, then exactly one succeeds and the others get 409 stale-version', async () => {
    const doc = await invoice();
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => writer.update(Invoice(), doc, { amount: 1000 + i }, 'invoice')),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ status: 409, code: 'stale-version' });
    const stored = await Invoice().findById(doc._id).lean();
    expect(stored).toMatchObject({ version: 1, amount: (won[0] as PromiseFulfilledResult<InvoiceDoc>).value.amount });
    expect(await claimsOf(doc._id)).toBe(0);
  });

  it('when a writer read a version that has since changed, then it gets 409 and the newer state is kept', async () => {
    const doc = await invoice();
    await writer.update(Invoice(), doc, { amount: 200 }, 'invoice');
    await expectProblem(writer.update(Invoice(), doc, { amount: 300 }, 'invoice'), 409, 'stale-version');
    await expectProblem(writer.remove(Invoice(), doc, 'invoice'), 409, 'stale-version');
    expect(await Invoice().findById(doc._id).lean()).toMatchObject({ amount: 200, version: 1 });
    expect(await claimsOf(doc._id)).toBe(0);
  });

  it('when a writer crashed between claim and write, then the record answers 409 only until the lease runs out', async () => {
    const doc = await invoice();
    // What a writer that died right after its claim leaves behind.
    const claimedAt = clock.now();
    await t.container.models.VersionClaim.create({
      _id: `invoices:${doc._id}:0:0`,
      collectionName: 'invoices',
      docId: doc._id,
      version: 0,
      generation: 0,
      claimedAt,
      expiresAt: new Date(claimedAt.getTime() + LEASE_MS),
    });
    await expectProblem(writer.update(Invoice(), doc, { amount: 300 }, 'invoice'), 409, 'stale-version');
    clock.advance(LEASE_MS - 1_000);
    await expectProblem(writer.update(Invoice(), doc, { amount: 300 }, 'invoice'), 409, 'stale-version');
    clock.advance(2_000);
    const after = await writer.update(Invoice(), doc, { amount: 300 }, 'invoice');
    expect(after).toMatchObject({ amount: 300, version: 1 });
    expect(await claimsOf(doc._id)).toBe(0);
  });

  it('when the write fails validation, then the claim is given back at once and nothing is written', async () => {
    const doc = await invoice();
    const err = await writer.update(Invoice(), doc, { amount: -5 }, 'invoice').catch((e: unknown) => e);
    expect((err as Error).name).toBe('ValidationError');
    expect(await claimsOf(doc._id)).toBe(0);
    expect(await Invoice().findById(doc._id).lean()).toMatchObject({ amount: 100, version: 0 });
    expect(await writer.update(Invoice(), doc, { amount: 5 }, 'invoice')).toMatchObject({ amount: 5, version: 1 });
  });

  it('when a writer is so slow that half its lease is gone before it writes, then it writes nothing (503) and frees the claim', async () => {
    const doc = await invoice();
    let calls = 0;
    // Claimed at real time; every later reading of the clock is 31 s on.
    const slow = new VersionedWriter({
      claims: t.container.models.VersionClaim,
      now: () => new Date(clock.now().getTime() + (calls++ === 0 ? 0 : LEASE_MS / 2 + 1_000)),
      leaseMs: LEASE_MS,
    });
    await expectProblem(slow.update(Invoice(), doc, { amount: 7 }, 'invoice'), 503, 'service-unavailable');
    expect(await Invoice().findById(doc._id).lean()).toMatchObject({ amount: 100, version: 0 });
    expect(await claimsOf(doc._id)).toBe(0);
  });

  it('when a record predates the version field, then it counts as version 0 and its first change makes it 1', async () => {
    const id = randomUUID();
    await t.container.database
      .db()
      .collection<{ _id: string; [k: string]: unknown }>('invoices')
      .insertOne({
        _id: id,
        number: `LEGACY-${id.slice(0, 8)}`,
        customer: 'Old Co',
        amount: 1,
        currency: 'EUR',
        status: 'draft',
        department: 'sales',
        createdBy: 'someone',
      });
    const legacy = (await Invoice().findById(id).lean())!;
    expect(legacy.version).toBeUndefined();
    expect(await writer.update(Invoice(), legacy, { amount: 2 }, 'invoice')).toMatchObject({ amount: 2, version: 1 });
    await expectProblem(writer.update(Invoice(), legacy, { amount: 3 }, 'invoice'), 409, 'stale-version');
  });
});
