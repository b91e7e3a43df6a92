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
  encryption.get(
    '/rotation',
    authorize('encryption:read'),
    route({}, async ({ res }) => {
      res.json({
        activeKeyId: deps.encryption.activeKeyId,
        keyIds: deps.encryption.keyIds,
        usage: await deps.keyRotation.keyUsage(deps.encryption.keyIds),
        rotation: await deps.keyRotation.status(),
        runningHere: deps.keyRotation.runningHere,
      });
    }),
  );
  // Starts (or resumes) re-encryption under the active key in the background; progress is in GET /rotation.
  encryption.post(
    '/rotation',
    authorize('encryption:rotate'),
    route({}, ({ res }) => {
      // The job (and what becomes of it, failures included) belongs to KeyRotation; the route only asks.
      const started = deps.keyRotation.start({ actorId: requireAuth(res).userId });
      res.status(202).json({ accepted: true, started, activeKeyId: deps.encryption.activeKeyId });
    }),
  );

  return encryption;
}
