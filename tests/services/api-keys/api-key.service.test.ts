import { randomBytes } from 'node:crypto';
import { buildTestApp, type TestApp } from '../../support/app';
import { ApiKeyService } from '../../../src/services/api-keys/api-key.service';
import { SingleUseClaims } from '../../../src/services/auth/single-use-claims';
import { VersionedWriter } from '../../../src/services/versioning/versioned-writer';
import { baseRoleGrants, type BaseRole } from '../../../src/services/access/policy';

describe('ApiKeyService', () => {
  let t: TestApp;
  let clock: Date;
  let svc: ApiKeyService;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
    clock = new Date('2026-01-01T00:00:00Z');
    svc = new ApiKeyService({
      keys: t.container.models.ApiKey,
      audit: t.container.deps.protection.audit,
      claims: new SingleUseClaims({ claims: t.container.models.SingleUseClaim, now: () => clock }),
      writer: new VersionedWriter({ claims: t.container.models.VersionClaim, now: () => clock }),
      secret: randomBytes(32),
      grantsOf: async (role) => baseRoleGrants(role as BaseRole),
      now: () => clock,
    });
  });
  afterAll(() => t.close());

  const inDays = (d: number): Date => new Date(clock.getTime() + d * 86_400_000);
  const raw = () => t.container.database.connection.db!.collection('api_keys');

  it('when a key is created, then the secret is returned once and only its HMAC is stored', async () => {
    const created = await svc.create({
      ownerId: 'u1',
      ownerRole: 'admin',
      name: 'ci',
      scopes: ['audit:read:any'],
      expiresAt: inDays(30),
    });
    expect(created.key).toMatch(/^erp_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const stored = await raw().findOne({ _id: created.id as never });
    // The secret part is base64url and may itself contain '_': take it by length, not by split.
    expect(JSON.stringify(stored)).not.toContain(created.key.slice(-43));
    expect(stored!.hash).toMatch(/^[0-9a-f]{64}$/);
    await expect(svc.verify(created.key)).resolves.toEqual({
      id: created.id,
      ownerId: 'u1',
      scopes: ['audit:read:any'],
    });
    expect((await raw().findOne({ _id: created.id as never }))!.lastUsedAt).toEqual(clock);
    const audit = await t.container.database.connection
      .db!.collection('audit_events')
      .findOne({ action: 'apikey.created', resourceId: created.id });
    expect(audit).not.toBeNull();
  });

  it('when a key is wrong by one character, expired or revoked, then 401 with the same problem', async () => {
    const created = await svc.create({
      ownerId: 'u2',
      ownerRole: 'user',
      name: 'x',
      scopes: ['profile:read:own'],
      expiresAt: inDays(1),
    });
    const last = created.key.slice(-1);
    const tampered = created.key.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    await expect(svc.verify(tampered)).rejects.toMatchObject({ status: 401, code: 'invalid-api-key' });
    await expect(svc.verify('erp_nonexistent0_' + 'a'.repeat(43))).rejects.toMatchObject({
      status: 401,
      code: 'invalid-api-key',
    });
    await expect(svc.verify('garbage')).rejects.toMatchObject({ status: 401, code: 'invalid-api-key' });
    clock = inDays(2);
    await expect(svc.verify(created.key)).rejects.toMatchObject({ status: 401, code: 'invalid-api-key' });
    clock = new Date('2026-01-01T00:00:00Z');
    await svc.revoke(created.id, { userId: 'u2', anyOwner: false });
    await expect(svc.verify(created.key)).rejects.toMatchObject({ status: 401 });
  });

  it('when scopes exceed what the owner holds, then 403 naming them', async () => {
    await expect(
      svc.create({ ownerId: 'u3', ownerRole: 'user', name: 'x', scopes: ['audit:read:any'], expiresAt: inDays(1) }),
    ).rejects.toMatchObject({ status: 403 });
  });

  it('when expiry is missing in effect (past or beyond a year), then 400', async () => {
    await expect(
      svc.create({ ownerId: 'u3', ownerRole: 'admin', name: 'x', scopes: [], expiresAt: inDays(-1) }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      svc.create({ ownerId: 'u3', ownerRole: 'admin', name: 'x', scopes: [], expiresAt: inDays(400) }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it('when a key is rotated, then both secrets work during the overlap and only the new one after', async () => {
    const created = await svc.create({
      ownerId: 'u4',
      ownerRole: 'admin',
      name: 'svc',
      scopes: [],
      expiresAt: inDays(30),
    });
    const rotated = await svc.rotate(created.id, { userId: 'u4', anyOwner: false }, 3600);
    expect(rotated.key).not.toBe(created.key);
    expect(rotated.prefix).toBe(created.prefix);
    await expect(svc.verify(created.key)).resolves.toMatchObject({ id: created.id });
    await expect(svc.verify(rotated.key)).resolves.toMatchObject({ id: created.id });
    clock = new Date(clock.getTime() + 3601_000);
    await expect(svc.verify(created.key)).rejects.toMatchObject({ status: 401 });
    await expect(svc.verify(rotated.key)).resolves.toMatchObject({ id: created.id });
    clock = new Date('2026-01-01T00:00:00Z');
    expect(
      await t.container.database.connection
        .db!.collection('audit_events')
        .countDocuments({ action: 'apikey.rotated', resourceId: created.id }),
    ).toBe(1);
  });

  it('when the same key is rotated forty times at once, then exactly one rotation wins and its secret works', async () => {
    const created = await svc.create({
      ownerId: 'u6',
      ownerRole: 'admin',
      name: 'race',
      scopes: [],
      expiresAt: inDays(30),
    });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, () => svc.rotate(created.id, { userId: 'u6', anyOwner: false }, 60)),
    );
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as { status?: number }] : []));
    expect(won).toHaveLength(1);
    expect(lost.every((e) => e.status === 409)).toBe(true);
    await expect(svc.verify(won[0].key)).resolves.toMatchObject({ id: created.id });
    await expect(svc.verify(created.key)).resolves.toMatchObject({ id: created.id });
  });

  it("when another user's key is revoked by a non-admin, then 404", async () => {
    const created = await svc.create({
      ownerId: 'u5',
      ownerRole: 'admin',
      name: 'svc',
      scopes: [],
      expiresAt: inDays(30),
    });
    await expect(svc.revoke(created.id, { userId: 'someone-else', anyOwner: false })).rejects.toMatchObject({
      status: 404,
    });
    await expect(svc.verify(created.key)).resolves.toMatchObject({ id: created.id });
  });
});
