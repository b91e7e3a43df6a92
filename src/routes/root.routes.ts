import { Router } from 'express';
import { route } from '../middleware/validate';

/**
 * `GET /`: scanners, load balancers and people probing the root get a small index instead
 * of a 404. It names the service and its public entry points, never a version or a host.
 */
export function rootRoutes(): Router {
  const router = Router();
  const index = JSON.stringify({
    service: 'erp-backend',
    links: {
      health: '/health',
      liveness: '/health/live',
      readiness: '/health/ready',
      api: '/api/v1',
      docs: '/api/docs',
    },
  });
  router.get(
    '/',
    route({}, ({ res }) => {
      res.status(200).setHeader('Cache-Control', 'no-store');
      res.type('application/json').send(index);
    }),
  );
  return router;
}
