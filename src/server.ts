import http from 'node:http';
import { ConfigError, loadConfig, type Config } from './config';
import { createLogger, type Logger } from './lib/logger';
import { createApp } from './app';
import { createContainer } from './container';
import { createHttpServer } from './http-server';
import { withLivenessAnswer } from './middleware/liveness';
import { securityHeaderList } from './middleware/security-headers';
import { createMetricsListener } from './services/health/metrics-listener';

/**
 * Starts the API: parse config (exit 1 with one line per problem), build the container,
 * listen, tell PM2 we are ready, and shut down gracefully on SIGTERM/SIGINT.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) console.error(`config error: ${problem}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.log.level });
  const container = createContainer(config, logger);
  await container.start();

  const app = createApp(container.deps);
  const securityHeaders = { hsts: config.edge.hsts, hstsPreload: config.edge.hstsPreload };
  const listener = withLivenessAnswer(app, {
    securityHeaders: securityHeaderList(securityHeaders),
    metrics: container.deps.operations.metrics,
  });
  const server = createHttpServer(listener, {
    maxHeaderBytes: config.http.maxHeaderBytes,
    timeouts: config.http.timeouts,
    securityHeaders,
    logger,
  });
  await new Promise<void>((resolve) => server.listen(config.http.port, config.http.host, resolve));
  const addr = server.address();
  logger.info(
    { address: typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : addr, env: config.env },
    'erp-backend listening',
  );
  const metricsServer =
    config.metrics.port === undefined
      ? undefined
      : createMetricsListener(container.deps.operations.metrics, { token: config.metrics.token, logger });
  if (metricsServer) {
    await new Promise<void>((resolve) => metricsServer.listen(config.metrics.port, config.metrics.host, resolve));
    logger.info({ address: `${config.metrics.host}:${config.metrics.port}` }, 'metrics listener started');
  }
  if (process.send) process.send('ready');

  const stop = async (): Promise<void> => {
    if (metricsServer) {
      metricsServer.closeAllConnections();
      await new Promise((resolve) => metricsServer.close(resolve));
    }
    await container.stop();
  };
  installShutdown(server, stop, logger, config.http.shutdownTimeoutMs, () =>
    // Live streams never finish on their own: end them so draining does not wait for the timeout.
    container.deps.operations.alertStream.stop(),
  );
}

function installShutdown(
  server: http.Server,
  stopContainer: () => Promise<void>,
  logger: Logger,
  timeoutMs: number,
  endLongLivedResponses: () => Promise<void> = async () => undefined,
): void {
  let shuttingDown = false;
  const shutdown = async (reason: string, exitCode: number): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ reason, timeoutMs }, 'shutting down: draining in-flight requests');
    // Forced exit if draining hangs; unref'd so it never keeps a finished process alive.
    setTimeout(() => {
      logger.error({ timeoutMs }, 'graceful shutdown timed out; forcing exit');
      process.exit(1);
    }, timeoutMs).unref();
    try {
      // Stop accepting; idle keep-alive sockets are closed, busy ones close after their response.
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      await endLongLivedResponses();
      server.closeIdleConnections();
      await closed;
      await stopContainer();
      logger.info('shutdown complete');
      logger.flush();
      process.exit(exitCode);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  // PM2 graceful reload on Windows-less hosts sends SIGINT; 'shutdown' message covers PM2's shutdown_with_message.
  process.on('message', (msg) => {
    if (msg === 'shutdown') void shutdown('pm2 shutdown message', 0);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection');
    void shutdown('unhandledRejection', 1);
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });
}

main().catch((err: unknown) => {
  console.error('erp-backend failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
