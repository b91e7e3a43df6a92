import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import type { Authorize } from '../middleware/rbac';
import { requireAuth } from '../lib/auth-context';
import { AppError } from '../lib/errors';
import type { Authenticate } from '../middleware/authenticate';
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
  authenticate: Authenticate;
  authorize: Authorize;
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

  router.post(
    '/:id/restore',
    authorize('backup:restore'),
    route(
      {
        params: backupId,
        body: z.strictObject({
          toDb: z.string().regex(DB_NAME_PATTERN, 'letters, digits, "_" or "-", at most 63').optional(),
          collections: z.array(z.string().min(1).max(255)).min(1).max(1000).optional(),
          overwrite: z.boolean().optional(),
          confirm: z.string().max(128).optional(),
        }),
      },
      async ({ params, body, res }) => {
        accepted(res, await backups.startRestore(params.id, body, actorOf(res)));
      },
    ),
  );

  return router;
}
