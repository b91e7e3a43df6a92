import { randomBytes } from 'node:crypto';
import { buildTestApp, type TestApp } from '../../support/app';
import { ApiKeyService, type ApiKeyServiceDeps } from '../../../src/services/api-keys/api-key.service';
import { SingleUseClaims } from '../../../src/services/auth/single-use-claims';
import { VersionedWriter } from '../../../src/services/versioning/versioned-writer';
import { baseRoleGrants, type BaseRole } from '../../../src/services/access/policy';

const ROUNDS = 20;

/**
 * FerretDB 1.x writes an updated document back whole, so two concurrent updates of
 * different fields can undo each other: a revocation racing the lastUsedAt refresh of a
 * request, or a rotation, must still stick.
 */
describe('ApiKeyService under concurrent writes to one key', () => {
  let t: TestApp;
  let svc: ApiKeyService;
  beforeAll(async () => {
    t = await buildTestApp(__filename);
    const deps: ApiKeyServiceDeps = {
      keys: t.container.models.ApiKey,
      audit: t.container.deps.protection.audit,
      claims: new SingleUseClaims({ claims: t.container.models.SingleUseClaim }),
      writer: new VersionedWriter({ claims: t.container.models.VersionClaim }),
      secret: randomBytes(32),
      grantsOf: async (role) => baseRoleGrants(role as BaseRole),
      // Every verification writes lastUsedAt: the most writes that could race a revocation.
      lastUsedResolutionMs: 0,
    };
    svc = new ApiKeyService(deps);
  });
  afterAll(() => t.close());

  const newKey = (round: number) =>
    svc.create({
      ownerId: 'owner-1',
      ownerRole: 'admin',
      name: `k${round}`,
      scopes: ['invoice:read:any'],
      expiresAt: new Date(Date.now() + 86_400_000),
    });

  it(`when a key is revoked while requests use it, then the revocation sticks and the key stops working, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { id, key } = await newKey(round);
      const uses = Array.from({ length: 8 }, () => svc.verify(key).catch(() => null));
      await Promise.all([svc.revoke(id, { userId: 'admin-1', anyOwner: true }), ...uses]);
      const stored = await t.container.models.ApiKey.findById(id).lean();
      expect(stored!.revokedAt).not.toBeNull();
      await expect(svc.verify(key)).rejects.toMatchObject({ status: 401 });
    }
  }, 120_000);

  it(`when a key is revoked while it is rotated, then it ends revoked whichever wins, ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { id } = await newKey(100 + round);
      const actor = { userId: 'admin-1', anyOwner: true };
      const [revoked] = await Promise.allSettled([svc.revoke(id, actor), svc.rotate(id, actor, 60)]);
      expect(revoked.status).toBe('fulfilled');
      const stored = await t.container.models.ApiKey.findById(id).lean();
      expect(stored!.revokedAt).not.toBeNull();
    }
  }, 120_000);

  it('when a rotation loses to a concurrent change of the key, then 409, nothing rotated, and the key can be rotated again', async () => {
    const { id, key } = await newKey(500);
    const actor = { userId: 'admin-1', anyOwner: true };
    // Another writer is in the middle of changing version 0 of this key.
    const now = new Date();
    await t.container.models.VersionClaim.create({
      _id: `api_keys:${id}:0:0`,
      collectionName: 'api_keys',
      docId: id,
      version: 0,
      generation: 0,
      claimedAt: now,
      expiresAt: new Date(now.getTime() + 60_000),
    });
    await expect(svc.rotate(id, actor, 60)).rejects.toMatchObject({ status: 409, code: 'stale-version' });
    await expect(svc.verify(key)).resolves.toMatchObject({ id });
    await t.container.models.VersionClaim.deleteOne({ _id: `api_keys:${id}:0:0` });
    const rotated = await svc.rotate(id, actor, 0);
    await expect(svc.verify(rotated.key)).resolves.toMatchObject({ id });
  });
});
