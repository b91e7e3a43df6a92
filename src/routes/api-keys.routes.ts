import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import { grantedAccess, type Authorize } from '../middleware/rbac';
import type { AccessPolicy } from '../services/access/access-policy';
import { requireAuth } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
import type { ApiKeyService } from '../services/api-keys/api-key.service';

const keyId = z.strictObject({ id: z.string().uuid() });

/** /api/v1/api-keys: a user's keys for machine clients. Keys cannot manage keys. */
export function apiKeyRoutes(deps: {
  apiKeys: ApiKeyService;
  policy: AccessPolicy;
  authenticate: Authenticate;
  authorize: Authorize;
}): Router {
  const { authorize } = deps;
  const router = Router();
  router.use(deps.authenticate(), (_req, res, next) => {
    if (requireAuth(res).kind === 'apiKey') throw AppError.forbidden('API keys cannot manage API keys.');
    next();
  });

  router.post(
    '/',
    authorize('apikey:create:own'),
    route(
      {
        body: z.strictObject({
          name: z.string().trim().min(1).max(100),
          scopes: z.array(z.string().regex(/^[a-z-]+:[a-z-]+:(own|any)$/)).max(50),
          expiresAt: z.coerce.date(),
        }),
      },
      async ({ body, res }) => {
        const a = requireAuth(res);
        deps.policy.assertMayMint(a, body.scopes);
        res.status(201).json(
          await deps.apiKeys.create({
            ownerId: a.userId,
            ownerRole: a.role,
            name: body.name,
            scopes: body.scopes,
            expiresAt: body.expiresAt,
          }),
        );
      },
    ),
  );

  router.get(
    '/',
    authorize('apikey:read:own'),
    route({}, async ({ res }) => {
      res.json({ items: await deps.apiKeys.list(requireAuth(res).userId) });
    }),
  );

  router.delete(
    '/:id',
    authorize('apikey:revoke'),
    route({ params: keyId }, async ({ params, res }) => {
      await deps.apiKeys.revoke(params.id, {
        userId: requireAuth(res).userId,
        anyOwner: grantedAccess(res).scope.kind === 'any',
      });
      res.status(204).end();
    }),
  );

  router.post(
    '/:id/rotate',
    authorize('apikey:rotate'),
    route(
      {
        params: keyId,
        body: z.strictObject({
          overlapSeconds: z
            .number()
            .int()
            .min(0)
            .max(7 * 86_400)
            .default(86_400),
        }),
      },
      async ({ params, body, res }) => {
        res.json(
          await deps.apiKeys.rotate(
            params.id,
            { userId: requireAuth(res).userId, anyOwner: grantedAccess(res).scope.kind === 'any' },
            body.overlapSeconds,
          ),
        );
      },
    ),
  );
  return router;
}
