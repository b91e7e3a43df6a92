import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { HealthCheckService } from '../services/health/health-check.service';
import type { AppMetrics } from '../services/health/metrics';
import type { AccessPolicy } from '../services/access/access-policy';
import type { Authenticate } from '../middleware/authenticate';
import type { Authorize } from '../middleware/rbac';
import { describeRoute, route, type RouteDoc } from '../middleware/validate';
import { AppError } from '../lib/errors';
import { getAuth } from '../lib/auth-context';
import type { Secret } from '../lib/secret';

const HEALTH_JSON = 'application/health+json';
export const HEALTH_DETAIL_PERMISSION = 'health:read:any';

export interface HealthRoutesDeps {
  health: HealthCheckService;
  authenticate: Authenticate;
  policy: AccessPolicy;
}

/**
 * Whether this caller may see the detailed report. Authentication is optional here: no
 * credential, a refused one (it is still reported as a security event by authenticate) or
 * one without `health:read:any` all get the anonymous view, never a 401/403, so a load
 * balancer with a stale header keeps working and the answer says nothing about the token.
 */
async function mayReadDetail(deps: HealthRoutesDeps, req: Request, res: Response): Promise<boolean> {
  if (!req.get('authorization') && !req.get('x-api-key')) return false;
  try {
    const mw = deps.authenticate();
    await new Promise<void>((resolve, reject) => {
      void Promise.resolve(mw(req, res, (err?: unknown) => (err ? reject(err) : resolve()))).catch(reject);
    });
  } catch (err) {
    if (err instanceof AppError && err.status < 500) return false;
    throw err;
  }
  const auth = getAuth(res);
  if (!auth) return false;
  return (await deps.policy.decide(auth, HEALTH_DETAIL_PERMISSION)).allowed;
}

const healthStatus = z.enum(['pass', 'warn', 'fail']);
const HEALTH_DOC: RouteDoc = {
  summary: 'Service health (RFC draft health+json)',
  description:
    'Anonymous callers get statuses only; a credential holding health:read:any gets the detailed report. 503 when failing.',
  responses: {
    200: {
      description: 'Healthy or degraded.',
      contentType: HEALTH_JSON,
      schema: z.looseObject({ status: healthStatus }),
    },
    503: { description: 'Failing.', contentType: HEALTH_JSON, schema: z.looseObject({ status: z.literal('fail') }) },
  },
  example: { status: 200 },
};

const HEALTH_REPORT_DOC: RouteDoc = {
  summary: 'Detailed health report (always 200)',
  description:
    'The same detailed report as GET /health with health:read:any, answered 200 whatever its status (the verdict is in the body).',
  responses: {
    200: { description: 'The detailed report.', schema: z.looseObject({ status: healthStatus }) },
  },
};

/** /health for operators and load balancers: served from the latest sample, never cached. */
export function healthRoutes(deps: HealthRoutesDeps): Router {
  const { health } = deps;
  const router = Router();
  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  // Liveness: the event loop answers. No I/O, so a slow database never gets the process killed.
  router.get(
    '/live',
    route({}, ({ res }) => {
      res
        .status(200)
        .type(HEALTH_JSON)
        .send(JSON.stringify({ status: 'pass' }));
    }),
  );

  // Readiness: MongoDB and Redis only; 503 when either fails (a fresh ping at most once a second).
  router.get(
    '/ready',
    route({}, async ({ res }) => {
      const ready = await health.readiness();
      res
        .status(ready.status === 'fail' ? 503 : 200)
        .type(HEALTH_JSON)
        .send(JSON.stringify(ready));
    }),
  );

  router.get(
    '/',
    route({ doc: HEALTH_DOC }, async ({ req, res }) => {
      const report = (await mayReadDetail(deps, req, res)) ? health.report() : health.publicReport();
      // The detail depends on the credential: shared caches must not mix the two views.
      res.setHeader('Vary', 'Authorization, X-API-Key');
      res
        .status(report.status === 'fail' ? 503 : 200)
        .type(HEALTH_JSON)
        .send(JSON.stringify(report));
    }),
  );
  return router;
}

/** /api/v1/health: history for admins. */
export function healthApiRoutes(deps: {
  health: HealthCheckService;
  authenticate: Authenticate;
  authorize: Authorize;
}): Router {
  const router = Router();
  router.use(deps.authenticate());
  // The detailed report as data: 200 whatever the verdict, so a browser reading it (the console)
  // does not log an expected 503 as a failed load. Load balancers keep using GET /health.
  router.get(
    '/report',
    deps.authorize(HEALTH_DETAIL_PERMISSION),
    route({ doc: HEALTH_REPORT_DOC }, ({ res }) => {
      res.setHeader('Cache-Control', 'no-store');
      res.json(deps.health.report());
    }),
  );
  router.get(
    '/history',
    deps.authorize(HEALTH_DETAIL_PERMISSION),
    route(
      {
        query: z.strictObject({
          component: z
            .string()
            .regex(/^[A-Za-z0-9._-]{1,64}(:[A-Za-z0-9._-]{1,64})?$/, 'a component or component:measurement'),
          since: z.coerce.date().optional(),
          interval: z.coerce.number().int().min(1).max(86_400).default(300),
        }),
      },
      async ({ query, res }) => {
        const out = await deps.health.history(query.component, query.since, query.interval * 1000);
        res.json({ component: query.component, intervalSeconds: query.interval, ...out });
      },
    ),
  );
  return router;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * GET /metrics in Prometheus text format, for a scraper holding METRICS_TOKEN. Without a
 * configured token the endpoint does not exist (404): metrics are never public.
 */
export function metricsHandler(metrics: AppMetrics, token: Secret<string> | undefined): RequestHandler {
  const expected = token ? digest(token.reveal()) : undefined;
  const handler: RequestHandler = async (req, res) => {
    if (!expected) throw AppError.notFound();
    const m = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
    if (!m || !timingSafeEqual(digest(m[1]), expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw AppError.unauthorized('A valid metrics bearer token is required.');
    }
    res.setHeader('Cache-Control', 'no-store');
    res.type(metrics.contentType()).send(await metrics.render());
  };
  return describeRoute(handler, {
    summary: 'Prometheus metrics',
    description: 'For a scraper holding METRICS_TOKEN as a bearer token; 404 when no token is configured.',
    responses: { 200: { description: 'Prometheus text exposition format.', contentType: 'text/plain' } },
  });
}
