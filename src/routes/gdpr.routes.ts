import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import { grantedAccess, type Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import type { Authenticate } from '../middleware/authenticate';
import type { GdprService } from '../services/gdpr/gdpr.service';

const userId = z.strictObject({ userId: z.string().uuid() });

/** /api/v1/gdpr: data-subject export and erasure. */
export function gdprRoutes(deps: { gdpr: GdprService; authenticate: Authenticate; authorize: Authorize }): Router {
  const { authorize } = deps;

  const gdpr = Router();
  gdpr.use(deps.authenticate());
  gdpr.get(
    '/users/:userId/export',
    authorize('gdpr:export'),
    route({ params: userId }, async ({ params, res }) => {
      const data = await deps.gdpr.export(params.userId, grantedAccess(res).scope, requireAuth(res).userId);
      res.setHeader('Content-Disposition', `attachment; filename="personal-data-${params.userId}.json"`);
      res.json(data);
    }),
  );
  gdpr.post(
    '/users/:userId/erase',
    authorize('gdpr:erase'),
    route({ params: userId }, async ({ params, res }) => {
      res.json(await deps.gdpr.erase(params.userId, requireAuth(res).userId));
    }),
  );

  return gdpr;
}
