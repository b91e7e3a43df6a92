import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import { grantedAccess, type Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import type { Authenticate } from '../middleware/authenticate';
import type { GdprService } from '../services/gdpr/gdpr.service';

const userId = z.strictObject({ userId: z.string().uuid() });

/** /api/v1/gdpr: data-subject export and erasure. */
export function gdprRoutes(deps: {
  gdpr: GdprService;
  authenticate: Authenticate;
  authorize: Authorize;
  /** The auth tier: a password given here is a guess like any other. */
  authLimiter: RequestHandler;
}): Router {
  const { authorize } = deps;
  const passwordGuarded: RequestHandler = (req, res, next) =>
    (req.body as { password?: unknown } | undefined)?.password !== undefined
      ? deps.authLimiter(req, res, next)
      : next();

  const gdpr = Router();
  gdpr.use(deps.authenticate());
  // POST, not GET: the password confirmation travels in the body, never in a URL or access log.
  gdpr.post(
    '/users/:userId/export',
    authorize('gdpr:export'),
    passwordGuarded,
    route(
      { params: userId, body: z.strictObject({ password: z.string().min(1).max(1024).optional() }) },
      async ({ params, body, res }) => {
        const a = requireAuth(res);
        const data = await deps.gdpr.export(
          params.userId,
          { userId: a.userId, scope: grantedAccess(res).scope, mfa: a.mfa },
          { password: body.password },
        );
        res.setHeader('Content-Disposition', `attachment; filename="personal-data-${params.userId}.json"`);
        res.json(data);
      },
    ),
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
