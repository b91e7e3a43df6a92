import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import type { Authorize } from '../middleware/rbac';
import type { Authenticate } from '../middleware/authenticate';
import type { AuditTrail } from '../services/audit/audit-trail';

/** /api/v1/audit: the hash-chained trail and its verification. */
export function auditRoutes(deps: { audit: AuditTrail; authenticate: Authenticate; authorize: Authorize }): Router {
  const { authorize } = deps;
  const audit = Router();
  audit.use(deps.authenticate());
  audit.get(
    '/',
    authorize('audit:read'),
    route(
      {
        query: z.strictObject({
          page: z.coerce.number().int().min(1).max(100_000).default(1),
          limit: z.coerce.number().int().min(1).max(200).default(50),
          action: z
            .string()
            .regex(/^[a-z0-9.-]{1,64}$/)
            .optional(),
          actorId: z.string().max(64).optional(),
          resource: z
            .string()
            .regex(/^[a-z-]{1,32}$/)
            .optional(),
          resourceId: z.string().max(64).optional(),
          outcome: z.enum(['allowed', 'denied', 'failed', 'succeeded']).optional(),
          from: z.coerce.date().optional(),
          to: z.coerce.date().optional(),
        }),
      },
      async ({ query, res }) => {
        res.json(await deps.audit.list(query));
      },
    ),
  );
  audit.get(
    '/verify',
    authorize('audit:verify'),
    route({}, async ({ res }) => {
      res.json(await deps.audit.verify());
    }),
  );

  return audit;
}
