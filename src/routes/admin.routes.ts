import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import { grantedScope, type Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Authenticate } from '../middleware/authenticate';
import type { GdprService } from '../services/gdpr/GdprService';
import type { KeyRotation } from '../services/encryption/key-rotation';
import type { EncryptionService } from '../services/EncryptionService';

const userId = z.strictObject({ userId: z.string().uuid() });

/** /api/v1/gdpr (data-subject export and erasure) and /api/v1/encryption (key rotation). */
export function adminRoutes(deps: { gdpr: GdprService; keyRotation: KeyRotation; encryption: EncryptionService; authenticate: Authenticate; authorize: Authorize; logger: Logger }): { gdpr: Router; encryption: Router } {
  const { authorize } = deps;

  const gdpr = Router();
  gdpr.use(deps.authenticate());
  gdpr.get('/users/:userId/export', authorize('gdpr:export'), route({ params: userId }, async ({ params, res }) => {
    const a = requireAuth(res);
    if (grantedScope(res) !== 'any' && params.userId !== a.userId) throw AppError.notFound('No such user.');
    res.setHeader('Content-Disposition', `attachment; filename="personal-data-${params.userId}.json"`);
    res.json(await deps.gdpr.export(params.userId, a.userId));
  }));
  gdpr.post('/users/:userId/erase', authorize('gdpr:erase'), route({ params: userId }, async ({ params, res }) => {
    res.json(await deps.gdpr.erase(params.userId, requireAuth(res).userId));
  }));

  const encryption = Router();
  encryption.use(deps.authenticate());
  let running: Promise<unknown> | null = null;
  encryption.get('/rotation', authorize('encryption:read'), route({}, async ({ res }) => {
    res.json({
      activeKeyId: deps.encryption.activeKeyId,
      keyIds: deps.encryption.keyIds,
      usage: await deps.keyRotation.keyUsage(deps.encryption.keyIds),
      rotation: await deps.keyRotation.status(),
      runningHere: running !== null,
    });
  }));
  // Starts (or resumes) re-encryption under the active key in the background; progress is in GET /rotation.
  encryption.post('/rotation', authorize('encryption:rotate'), route({}, ({ res }) => {
    if (!running) {
      const actorId = requireAuth(res).userId;
      running = deps.keyRotation
        .rotate({ actorId })
        .catch((err: unknown) => deps.logger.error({ err }, 'key rotation failed; POST again to resume'))
        .finally(() => (running = null));
    }
    res.status(202).json({ accepted: true, activeKeyId: deps.encryption.activeKeyId });
  }));

  return { gdpr, encryption };
}
