import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { Secret } from '../../lib/secret';
import type { AppMetrics } from './metrics';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * A separate HTTP server on an internal interface that serves only `GET /metrics`, so the
 * scrape never goes through the public listener. With a token configured it is still
 * required here; without one the bind address is the protection.
 */
export function createMetricsListener(
  metrics: AppMetrics,
  opts: { token: Secret<string> | undefined; logger: Logger },
): http.Server {
  const expected = opts.token ? digest(opts.token.reveal()) : undefined;
  return http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return void res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    if (expected) {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!m || !timingSafeEqual(digest(m[1]), expected))
        return void res
          .writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain' })
          .end('unauthorized\n');
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType(), 'cache-control': 'no-store' }).end(text),
      (err: unknown) => {
        opts.logger.error({ err }, 'metrics rendering failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('error\n');
      },
    );
  });
}
