import { Router } from 'express';
import { z } from 'zod';
import { route } from '../middleware/validate';
import type { Authorize } from '../middleware/rbac';
import type { Authenticate } from '../middleware/authenticate';
import { requireAuth } from '../lib/auth-context';
import { ALERT_CHANNELS, ALERT_STATUSES } from '../models/alert.model';
import { ALERT_SEVERITIES, ALERT_SOURCES } from '../services/alerts/alert-raiser';
import type { AlertCommands, AlertActor } from '../services/alerts/alert-commands';
import type { AlertQueryService } from '../services/alerts/alert-query.service';
import type { AlertStream } from '../services/alerts/alert-stream';
import { alertView } from '../services/alerts/alert-view';

/** `a,b` or a single value, each one of `values`, no repeats. */
const oneOrMore = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .string()
    .max(200)
    .transform((v) => v.split(','))
    .pipe(z.array(z.enum(values)).min(1).max(values.length))
    .transform((v) => [...new Set(v)]);

const alertId = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not an alert id') });
const comment = z.strictObject({ comment: z.string().trim().min(1).max(1000).optional() });

/** /api/v1/alerts: the dashboard channel's API and live stream (admin-only permissions). */
export function alertRoutes(deps: {
  alerts: AlertCommands;
  alertQueries: AlertQueryService;
  alertStream: AlertStream;
  authenticate: Authenticate;
  authorize: Authorize;
}): Router {
  const { authorize, alerts, alertQueries } = deps;
  const router = Router();
  router.use(deps.authenticate());
  const actorOf = (res: Parameters<typeof requireAuth>[0]): AlertActor => {
    const a = requireAuth(res);
    return { id: a.userId, role: a.role };
  };

  router.get(
    '/',
    authorize('alert:read'),
    route(
      {
        query: z.strictObject({
          status: oneOrMore(ALERT_STATUSES).optional(),
          severity: oneOrMore(ALERT_SEVERITIES).optional(),
          source: oneOrMore(ALERT_SOURCES).optional(),
          from: z.coerce.date().optional(),
          to: z.coerce.date().optional(),
          cursor: z.string().max(200).optional(),
          limit: z.coerce.number().int().min(1).max(200).default(50),
        }),
      },
      async ({ query, res }) => {
        res.json(await alertQueries.list(query));
      },
    ),
  );

  router.get(
    '/stats',
    authorize('alert:read'),
    route(
      { query: z.strictObject({ from: z.coerce.date().optional(), to: z.coerce.date().optional() }) },
      async ({ query, res }) => {
        res.json(await alertQueries.stats(query.from, query.to));
      },
    ),
  );

  // Server-Sent Events: the general rate limit counted this connect; the stream itself is not a request loop.
  router.get(
    '/stream',
    authorize('alert:read'),
    route({}, async ({ req, res }) => {
      await deps.alertStream.connect(req, res, req.get('last-event-id'));
    }),
  );

  router.post(
    '/test',
    authorize('alert:manage'),
    route(
      {
        body: z.strictObject({
          channels: z
            .array(z.enum(ALERT_CHANNELS))
            .min(1)
            .max(ALERT_CHANNELS.length)
            .refine((c) => new Set(c).size === c.length, 'channels must not repeat'),
        }),
      },
      async ({ body, res }) => {
        const alert = await alerts.sendTest(body.channels, actorOf(res));
        res.status(201).location(`/api/v1/alerts/${alert._id}`).json(alertView(alert));
      },
    ),
  );

  router.get(
    '/:id',
    authorize('alert:read'),
    route({ params: alertId }, async ({ params, res }) => {
      res.json(await alertQueries.get(params.id));
    }),
  );

  router.post(
    '/:id/acknowledge',
    authorize('alert:manage'),
    route({ params: alertId, body: comment }, async ({ params, body, res }) => {
      res.json(alertView(await alerts.acknowledge(params.id, actorOf(res), body.comment)));
    }),
  );

  router.post(
    '/:id/resolve',
    authorize('alert:manage'),
    route({ params: alertId, body: comment }, async ({ params, body, res }) => {
      res.json(alertView(await alerts.resolve(params.id, actorOf(res), body.comment)));
    }),
  );

  return router;
}
