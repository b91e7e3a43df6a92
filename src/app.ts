import express, { type Express } from 'express';
import type { Config } from './config';
import type { Logger } from './lib/logger';
import { requestId } from './middleware/request-id';
import { httpLogger } from './middleware/http-logger';
import { errorHandler, notFound } from './middleware/error-handler';
import { healthApiRoutes, healthRoutes, metricsHandler } from './routes/health.routes';
import { rootRoutes } from './routes/root.routes';
import {
  answerWrongMethods,
  rejectHostileInput,
  rejectUnusedMethods,
  requireJsonBody,
} from './middleware/hostile-input';
import type { HealthCheckService } from './services/health/health-check.service';
import type { AppMetrics } from './services/health/metrics';
import type { AlertService } from './services/alerts/alert.service';
import type { AuditTrail } from './services/audit/audit-trail';
import type { EncryptionService } from './services/encryption/encryption.service';
import type { ApiKeyService } from './services/api-keys/api-key.service';
import type { KeyRotation } from './services/encryption/key-rotation';
import type { AuthService } from './services/auth/auth.service';
import type { TwoFactorAuthService } from './services/two-factor-auth/two-factor-auth.service';
import type { UserService } from './services/users/user.service';
import type { Authenticate } from './middleware/authenticate';
import { authRoutes } from './routes/auth.routes';
import { passkeyRoutes } from './routes/passkeys.routes';
import type { PasskeyService } from './services/passkeys/passkey.service';
import type { RateLimiters } from './middleware/rate-limit';
import type { Authorize } from './middleware/rbac';
import type { RoleService } from './services/access/role.service';
import type { AccessPolicy } from './services/access/access-policy';
import type { EmployeeService } from './services/employees/employee.service';
import type { InvoiceService } from './services/invoices/invoice.service';
import { employeeRoutes } from './routes/employees.routes';
import { invoiceRoutes } from './routes/invoices.routes';
import { accessRoutes } from './routes/access.routes';
import { rolesRoutes } from './routes/roles.routes';
import { auditRoutes } from './routes/audit.routes';
import { gdprRoutes } from './routes/gdpr.routes';
import { encryptionRoutes } from './routes/encryption.routes';
import type { GdprService } from './services/gdpr/gdpr.service';
import { securityHeaders, securityHeaderList, noStore } from './middleware/security-headers';
import { livenessFastPath } from './middleware/liveness';
import { composeMiddleware } from './middleware/compose';
import { corsPolicy } from './middleware/cors';
import { userRoutes } from './routes/users.routes';
import { apiKeyRoutes } from './routes/api-keys.routes';
import { backupRoutes } from './routes/backups.routes';
import type { BackupRestoreService } from './services/backup-restore/backup-restore.service';
import { alertRoutes } from './routes/alerts.routes';
import type { AlertQueryService } from './services/alerts/alert-query.service';
import type { AlertStream } from './services/alerts/alert-stream';
import { apiDocsRoutes } from './routes/api-docs.routes';
import { buildOpenApiDocument } from './lib/openapi';
import { VERSION } from './lib/version';
import { consoleRoutes } from './routes/console.routes';

/** Everything the HTTP layer needs, built by the composition root (src/container.ts) or a test. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  /** What every router puts in front of its handlers: who is calling, may they, how often. */
  gates: { authenticate: Authenticate; authorize: Authorize; rateLimiters: RateLimiters };
  /** Sign-in, sessions and second factors, user accounts, API keys. */
  identity: {
    auth: AuthService;
    twoFactor: TwoFactorAuthService;
    users: UserService;
    apiKeys: ApiKeyService;
    passkeys: PasskeyService;
  };
  /** Who may do what: the one access policy and the custom roles it reads. */
  access: { policy: AccessPolicy; roles: RoleService };
  /** Data protection: field encryption and key rotation, the audit trail, data-subject rights. */
  protection: { encryption: EncryptionService; keyRotation: KeyRotation; audit: AuditTrail; gdpr: GdprService };
  /** The ERP records. */
  resources: { employees: EmployeeService; invoices: InvoiceService };
  /** What operators watch (alerts and backups join here). */
  operations: {
    health: HealthCheckService;
    metrics: AppMetrics;
    backups: BackupRestoreService;
    /** The alert engine; the read side and the live stream. */
    alerts: AlertService;
    alertQueries: AlertQueryService;
    alertStream: AlertStream;
  };
}

/**
 * Builds the Express app from its dependencies. It does not listen: src/server.ts does,
 * and tests drive it with supertest. The middleware order is the request path described
 * in docs/ARCHITECTURE.md.
 */
export function createApp(deps: AppDeps): Express {
  const { config, logger } = deps;
  const { authenticate, authorize, rateLimiters } = deps.gates;
  const { auth, twoFactor, users, apiKeys } = deps.identity;
  const { policy, roles } = deps.access;
  const { encryption, keyRotation, audit, gdpr } = deps.protection;
  const { employees, invoices } = deps.resources;
  const app = express();
  app.disable('x-powered-by');
  // Responses are per-user and mostly no-store; weak ETags would only cost hashing.
  app.set('etag', false);
  app.set('trust proxy', config.http.trustProxy);
  // Flat query strings only: `?a[b]=c` stays a literal key instead of becoming an object (operator injection).
  app.set('query parser', 'simple');

  const securityOptions = { hsts: config.edge.hsts, hstsPreload: config.edge.hstsPreload };
  // Before everything else: the liveness probe's answer is fixed (same headers and metric as its route below).
  app.use(livenessFastPath({ securityHeaders: securityHeaderList(securityOptions), metrics: deps.operations.metrics }));
  // The steps every request takes, in this order, as one router layer (composeMiddleware).
  app.use(
    composeMiddleware([
      requestId(),
      httpLogger(logger, { metrics: deps.operations.metrics }),
      ...securityHeaders(securityOptions),
      corsPolicy({ allowedOrigins: config.cors.origins, logger, maxAgeSeconds: config.edge.corsMaxAgeSeconds }),
      rejectUnusedMethods(),
    ]),
  );

  app.use(rootRoutes());
  app.use('/health', healthRoutes({ health: deps.operations.health, authenticate, policy }));
  app.get('/metrics', metricsHandler(deps.operations.metrics, config.metrics.token));
  // The operations console (static files, its own CSP); everything it shows comes from /api.
  app.use('/console', ...consoleRoutes({ dir: config.console.dir }));

  // Everything under /api is per-user data or auth state: never cached, and rate limited.
  app.use('/api', composeMiddleware([noStore, rateLimiters.general]));
  app.use(
    composeMiddleware([
      requireJsonBody(),
      express.json({ limit: config.http.bodyLimit, strict: true, type: 'application/json' }),
      rejectHostileInput(),
    ]),
  );

  // --- API routers (mounted here, after body parsing and input screening)
  app.use(
    '/api/v1/auth',
    authRoutes({
      auth,
      twoFactor,
      users,
      authenticate,
      authorize,
      policy,
      authLimiter: rateLimiters.auth,
    }),
  );
  app.use(
    '/api/v1/auth/passkeys',
    passkeyRoutes({ passkeys: deps.identity.passkeys, auth, authenticate, authLimiter: rateLimiters.auth }),
  );
  app.use('/api/v1/users', userRoutes({ users, authenticate, authorize }));
  app.use('/api/v1/employees', employeeRoutes({ employees, authenticate, authorize }));
  app.use(
    '/api/v1/invoices',
    invoiceRoutes({
      invoices,
      authenticate,
      authorize,
      paymentLimiter: rateLimiters.payment,
    }),
  );
  app.use(
    '/api/v1/access',
    accessRoutes({
      policy,
      employees,
      invoices,
      users,
      authenticate,
      authorize,
    }),
  );
  app.use('/api/v1/roles', rolesRoutes({ roles, authenticate, authorize }));
  app.use('/api/v1/audit', auditRoutes({ audit, authenticate, authorize }));
  app.use('/api/v1/gdpr', gdprRoutes({ gdpr, authenticate, authorize, authLimiter: rateLimiters.auth }));
  app.use('/api/v1/encryption', encryptionRoutes({ keyRotation, encryption, authenticate, authorize, logger }));
  app.use('/api/v1/api-keys', apiKeyRoutes({ apiKeys, policy, authenticate, authorize }));
  app.use(
    '/api/v1/admin/backups',
    backupRoutes({
      backups: deps.operations.backups,
      auth,
      authenticate,
      authorize,
      authLimiter: rateLimiters.auth,
    }),
  );
  app.use('/api/v1/health', healthApiRoutes({ health: deps.operations.health, authenticate, authorize }));
  app.use(
    '/api/v1/alerts',
    alertRoutes({
      alerts: deps.operations.alerts,
      alertQueries: deps.operations.alertQueries,
      alertStream: deps.operations.alertStream,
      authenticate,
      authorize,
    }),
  );

  app.use(
    '/api/docs',
    apiDocsRoutes({
      production: config.isProduction,
      document: () => buildOpenApiDocument(app, { version: VERSION }),
      authenticate,
      authorize,
    }),
  );

  answerWrongMethods(app.router);
  app.use(notFound());
  app.use(errorHandler(logger, () => deps.operations.alerts.recordServerError()));
  return app;
}
