import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import type { Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
import type { AuthService } from '../services/auth/auth.service';
import {
  BACKUP_ID_PATTERN,
  DB_NAME_PATTERN,
  type Actor,
  type BackupRestoreService,
} from '../services/backup-restore/backup-restore.service';

const backupId = z.strictObject({ id: z.string().regex(BACKUP_ID_PATTERN, 'not a backup id') });
const jobId = z.strictObject({ jobId: z.string().uuid() });

/**
 * /api/v1/admin/backups: backups for operators. Long operations (create, verify, restore)
 * answer 202 with a job id; `GET /jobs/:jobId` reports phase, progress and ETA from any worker.
 */
export function backupRoutes(deps: {
  backups: BackupRestoreService;
  /** Re-authentication (password again) for a restore over the live database. */
  auth: Pick<AuthService, 'reauthenticate'>;
  authenticate: Authenticate;
  authorize: Authorize;
  /** The auth rate-limit tier: a password given here is a guess like any other. Pass-through when absent. */
  authLimiter?: RequestHandler;
}): Router {
  const { backups, authorize } = deps;
  const router = Router();
  router.use(deps.authenticate());
  const actorOf = (res: Parameters<typeof requireAuth>[0]): Actor => {
    const a = requireAuth(res);
    return { id: a.userId, role: a.role };
  };
  const accepted = (res: Parameters<typeof requireAuth>[0], id: string) =>
    res
      .status(202)
      .location(`/api/v1/admin/backups/jobs/${id}`)
      .json({ jobId: id, status: 'running', poll: `/api/v1/admin/backups/jobs/${id}` });

  router.post(
    '/',
    authorize('backup:create'),
    route({ body: z.strictObject({}).optional() }, async ({ res }) => {
      accepted(res, await backups.startCreate('manual', actorOf(res)));
    }),
  );

  router.get(
    '/',
    authorize('backup:read'),
    route({}, async ({ res }) => {
      res.json({ items: await backups.list() });
    }),
  );

  router.get(
    '/jobs/:jobId',
    authorize('backup:read'),
    route({ params: jobId }, async ({ params, res }) => {
      const job = await backups.job(params.jobId);
      if (!job) throw AppError.notFound(`No backup job ${params.jobId}.`);
      res.json(job);
    }),
  );

  router.get(
    '/:id',
    authorize('backup:read'),
    route({ params: backupId }, async ({ params, res }) => {
      const backup = await backups.get(params.id);
      if (!backup) throw AppError.notFound(`No complete backup ${params.id}.`);
      res.json(backup);
    }),
  );

  router.post(
    '/:id/verify',
    authorize('backup:create'),
    route({ params: backupId, body: z.strictObject({}).optional() }, async ({ params, res }) => {
      accepted(res, await backups.startVerify(params.id, actorOf(res)));
    }),
  );

  // A restore over the live database replaces production data: a stolen access token alone
  // must not be enough (the confirmation is only the backup id, shown in every listing), so
  // it needs the caller's password again. An API key is no signed-in session to re-authenticate: never over it.
  const overLive = (body: unknown): boolean => {
    if (body === undefined) return true;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
    const { toDb } = body as { toDb?: unknown };
    return toDb === undefined || (typeof toDb === 'string' && backups.isLiveTarget(toDb));
  };
  const noApiKeyOverLive: RequestHandler = (req, res, next) => {
    if (requireAuth(res).kind === 'apiKey' && overLive(req.body))
      throw AppError.forbidden(
        'API keys cannot restore over the live database: restore into another database with toDb, or overwrite from a signed-in admin session (with your password) or the CLI.',
      );
    next();
  };
  const limit: RequestHandler = deps.authLimiter ?? ((_req, _res, next) => next());
  const passwordGuarded: RequestHandler = (req, res, next) =>
    (req.body as { password?: unknown } | undefined)?.password !== undefined ? limit(req, res, next) : next();

  router.post(
    '/:id/restore',
    authorize('backup:restore'),
    noApiKeyOverLive,
    passwordGuarded,
    route(
      {
        params: backupId,
        body: z
          .strictObject({
            toDb: z.string().regex(DB_NAME_PATTERN, 'letters, digits, "_" or "-", at most 63').optional(),
            collections: z.array(z.string().min(1).max(255)).min(1).max(1000).optional(),
            overwrite: z.boolean().optional(),
            confirm: z.string().max(128).optional(),
            password: z
              .string()
              .min(1)
              .max(1024)
              .optional()
              .describe('Your current password; required with overwrite over the live database.'),
          })
          .superRefine((b, ctx) => {
            if (b.overwrite === true && backups.isLiveTarget(b.toDb) && b.password === undefined)
              ctx.addIssue({
                code: 'custom',
                path: ['password'],
                message: 'your current password is required to restore over the live database',
              });
          }),
        doc: {
          summary: 'Restore a backup',
          description:
            'Into another database (`toDb`, whose collections must not exist), or over the live database with `overwrite: true`, `confirm: "<backup id>"` and your current `password` (re-authentication: a wrong one is refused with 403, audited and counted like a sign-in failure). A safety backup is taken before a restore over the live database. API keys cannot restore over the live database. Answers 202 with a job id to poll.',
        },
      },
      async ({ params, body, res }) => {
        const { password, ...request } = body;
        if (request.overwrite === true && backups.isLiveTarget(request.toDb)) {
          // The confirmation first: a wrong one costs no password attempt.
          backups.checkRestoreRequest(params.id, request);
          // Before anything starts (no job, no safety backup). The schema requires the password here.
          await deps.auth.reauthenticate(requireAuth(res).userId, password ?? '', 'backup.restore.overwrite');
        }
        accepted(res, await backups.startRestore(params.id, request, actorOf(res)));
      },
    ),
  );

  return router;
}
