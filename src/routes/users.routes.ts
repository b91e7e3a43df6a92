import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import type { Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
import type { UserService } from '../services/users/user.service';
import { toPublicUser } from '../services/users/user.service';

const id = z.strictObject({ id: z.string().uuid() });
const role = z.string().regex(/^[a-z][a-z0-9-]{1,31}$/);
const department = z.string().trim().min(1).max(64).nullable();

/** /api/v1/users: account administration. */
export function userRoutes(deps: { users: UserService; authenticate: Authenticate; authorize: Authorize }): Router {
  const { authorize } = deps;
  const router = Router();
  router.use(deps.authenticate());

  router.post(
    '/',
    authorize('user:create:any'),
    route(
      {
        body: z.strictObject({
          email: z.string().trim().email().max(254),
          name: z.string().trim().min(1).max(200),
          role,
          department: department.optional(),
          password: z.string().min(1).max(1024),
        }),
      },
      async ({ body, res }) => {
        res.status(201).json(await deps.users.create(body, requireAuth(res).userId));
      },
    ),
  );

  router.get(
    '/',
    authorize('user:read:any'),
    route(
      {
        query: z.strictObject({
          page: z.coerce.number().int().min(1).max(10_000).default(1),
          limit: z.coerce.number().int().min(1).max(100).default(20),
          role: role.optional(),
          status: z.enum(['active', 'disabled']).optional(),
          department: z.string().max(64).optional(),
        }),
      },
      async ({ query, res }) => {
        const { items, total } = await deps.users.list(query);
        res.json({ items, page: query.page, limit: query.limit, total });
      },
    ),
  );

  router.get(
    '/:id',
    authorize('user:read:any'),
    route({ params: id }, async ({ params, res }) => {
      res.json(toPublicUser(await deps.users.get(params.id)));
    }),
  );

  router.patch(
    '/:id',
    authorize('user:update:any'),
    route(
      {
        params: id,
        body: z.strictObject({
          role: role.optional(),
          department: department.optional(),
          status: z.enum(['active', 'disabled']).optional(),
          name: z.string().trim().min(1).max(200).optional(),
        }),
      },
      async ({ params, body, res }) => {
        res.json(await deps.users.update(params.id, body, requireAuth(res).userId));
      },
    ),
  );

  router.post(
    '/:id/2fa/reset',
    authorize('user:mfa-reset:any'),
    route({ params: id }, async ({ params, res }) => {
      const a = requireAuth(res);
      if (!a.mfa)
        throw AppError.forbidden("Resetting another user's second factor requires your own two-factor session.");
      await deps.users.resetSecondFactors(params.id, a.userId);
      res.status(204).end();
    }),
  );
  return router;
}
