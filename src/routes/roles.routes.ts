import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import type { Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import type { Authenticate } from '../middleware/authenticate';
import type { RoleService } from '../services/access/role.service';

const roleName = z.string().regex(/^[a-z][a-z0-9-]{1,31}$/);

/** /api/v1/roles: custom roles (base roles live in the policy file). */
export function rolesRoutes(deps: { roles: RoleService; authenticate: Authenticate; authorize: Authorize }): Router {
  const { authorize } = deps;
  const roles = Router();
  roles.use(deps.authenticate());
  roles.get(
    '/',
    authorize('role:manage'),
    route({}, async ({ res }) => {
      res.json({ items: await deps.roles.list() });
    }),
  );
  roles.put(
    '/:name',
    authorize('role:manage'),
    route(
      {
        params: z.strictObject({ name: roleName }),
        body: z.strictObject({
          parent: roleName,
          grants: z.array(z.string().max(80)).max(200),
          description: z.string().max(200).optional(),
        }),
      },
      async ({ params, body, res }) => {
        res.json(await deps.roles.upsert(params.name, body, requireAuth(res).userId));
      },
    ),
  );
  roles.delete(
    '/:name',
    authorize('role:manage'),
    route({ params: z.strictObject({ name: roleName }) }, async ({ params, res }) => {
      await deps.roles.remove(params.name, requireAuth(res).userId);
      res.status(204).end();
    }),
  );

  return roles;
}
