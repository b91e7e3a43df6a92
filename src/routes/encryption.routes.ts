import { Router } from 'express';
import { route } from '../middleware/validate';
import type { Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import type { Logger } from '../lib/logger';
import type { Authenticate } from '../middleware/authenticate';
import type { KeyRotation } from '../services/encryption/key-rotation';
import type { EncryptionService } from '../services/encryption/encryption.service';

/** /api/v1/encryption: keyring status and key rotation. */
export function encryptionRoutes(deps: {
  keyRotation: KeyRotation;
  encryption: EncryptionService;
  authenticate: Authenticate;
  authorize: Authorize;
  logger: Logger;
}): Router {
  const { authorize } = deps;

  const encryption = Router();
  encryption.use(deps.authenticate());
  let running: Promise<unknown> | null = null;
  encryption.get(
    '/rotation',
    authorize('encryption:read'),
    route({}, async ({ res }) => {
      res.json({
        activeKeyId: deps.encryption.activeKeyId,
        keyIds: deps.encryption.keyIds,
        usage: await deps.keyRotation.keyUsage(deps.encryption.keyIds),
        rotation: await deps.keyRotation.status(),
        runningHere: running !== null,
      });
    }),
  );
  // Starts (or resumes) re-encryption under the active key in the background; progress is in GET /rotation.
  encryption.post(
    '/rotation',
    authorize('encryption:rotate'),
    route({}, ({ res }) => {
      if (!running) {
        const actorId = requireAuth(res).userId;
        running = deps.keyRotation
          .rotate({ actorId })
          .catch((err: unknown) => deps.logger.error({ err }, 'key rotation failed; POST again to resume'))
          .finally(() => (running = null));
      }
      res.status(202).json({ accepted: true, activeKeyId: deps.encryption.activeKeyId });
    }),
  );

  return encryption;
}
