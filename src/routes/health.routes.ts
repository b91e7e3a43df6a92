import { Router } from 'express';
import type { HealthCheckService } from '../services/health/health-check.service';
import { route } from '../middleware/validate';

const HEALTH_JSON = 'application/health+json';

/** /health for operators and load balancers; no authentication, no rate limit, never cached. */
export function healthRoutes(health: HealthCheckService): Router {
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
    route({}, async ({ res }) => {
      const report = await health.report();
      res
        .status(report.status === 'fail' ? 503 : 200)
        .type(HEALTH_JSON)
        .send(JSON.stringify(report));
    }),
  );
  return router;
}
