import express, { type Express } from 'express';
import type { Config } from './config';
import type { Logger } from './lib/logger';
import { requestId } from './middleware/request-id';
import { httpLogger } from './middleware/http-logger';
import { errorHandler, notFound } from './middleware/error-handler';
import { healthRoutes } from './routes/health.routes';
import {
  answerWrongMethods,
  rejectHostileInput,
  rejectUnusedMethods,
  requireJsonBody,
} from './middleware/hostile-input';
import type { HealthCheckService } from './services/health/health-check.service';
import type { AuditTrail } from './services/audit/audit-trail';
import type { EncryptionService } from './services/encryption/encryption.service';
import type { ApiKeyService } from './services/api-keys/api-key.service';
import type { KeyRotation } from './services/encryption/key-rotation';
import type { AuthService } from './services/auth/auth.service';
import type { TwoFactorAuthService } from './services/two-factor-auth/two-factor-auth.service';
import type { UserService } from './services/users/user.service';
import type { Authenticate } from './middleware/authenticate';
import { authRoutes } from './routes/auth.routes';
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
import { securityHeaders, noStore } from './middleware/security-headers';
import { corsPolicy } from './middleware/cors';
import { userRoutes } from './routes/users.routes';
import { apiKeyRoutes } from './routes/api-keys.routes';

/** Everything the HTTP layer needs, built by the composition root (src/container.ts) or a test. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  health: HealthCheckService;
  audit: AuditTrail;
  encryption: EncryptionService;
  apiKeys: ApiKeyService;
  keyRotation: KeyRotation;
  auth: AuthService;
  twoFactor: TwoFactorAuthService;
  users: UserService;
  authenticate: Authenticate;
  rateLimiters: RateLimiters;
  roles: RoleService;
  authorize: Authorize;
  policy: AccessPolicy;
  employees: EmployeeService;
  invoices: InvoiceService;
  gdpr: GdprService;
}

/**
 * Builds the Express app from its dependencies. It does not listen: src/server.ts does,
 * and tests drive it with supertest. The middleware order is the request path described
 * in docs/ARCHITECTURE.md.
 */
export function createApp(deps: AppDeps): Express {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // Responses are per-user and mostly no-store; weak ETags would only cost hashing.
  app.set('etag', false);
  app.set('trust proxy', config.http.trustProxy);
  // Flat query strings only: `?a[b]=c` stays a literal key instead of becoming an object (operator injection).
  app.set('query parser', 'simple');

  app.use(requestId());
  app.use(httpLogger(logger));
  app.use(securityHeaders({ hsts: config.edge.hsts, hstsPreload: config.edge.hstsPreload }));
  app.use(corsPolicy({ allowedOrigins: config.cors.origins, logger, maxAgeSeconds: config.edge.corsMaxAgeSeconds }));
  app.use(rejectUnusedMethods());

  app.use('/health', healthRoutes(deps.health));

  // Everything under /api is per-user data or auth state: never cached, and rate limited.
  app.use('/api', noStore, deps.rateLimiters.general);
  app.use(requireJsonBody());
  app.use(express.json({ limit: config.http.bodyLimit, strict: true, type: 'application/json' }));
  app.use(rejectHostileInput());

  // --- API routers (mounted here, after body parsing and input screening)
  app.use(
    '/api/v1/auth',
    authRoutes({
      auth: deps.auth,
      twoFactor: deps.twoFactor,
      users: deps.users,
      authenticate: deps.authenticate,
      authorize: deps.authorize,
      authLimiter: deps.rateLimiters.auth,
    }),
  );
  app.use(
    '/api/v1/users',
    userRoutes({ users: deps.users, authenticate: deps.authenticate, authorize: deps.authorize }),
  );
  const { authenticate, authorize } = deps;
  app.use('/api/v1/employees', employeeRoutes({ employees: deps.employees, authenticate, authorize }));
  app.use(
    '/api/v1/invoices',
    invoiceRoutes({
      invoices: deps.invoices,
      authenticate,
      authorize,
      paymentLimiter: deps.rateLimiters.payment,
    }),
  );
  app.use(
    '/api/v1/access',
    accessRoutes({
      policy: deps.policy,
      employees: deps.employees,
      invoices: deps.invoices,
      users: deps.users,
      authenticate,
      authorize,
    }),
  );
  app.use('/api/v1/roles', rolesRoutes({ roles: deps.roles, authenticate, authorize }));
  app.use('/api/v1/audit', auditRoutes({ audit: deps.audit, authenticate, authorize }));
  app.use(
    '/api/v1/gdpr',
    gdprRoutes({ gdpr: deps.gdpr, authenticate, authorize, authLimiter: deps.rateLimiters.auth }),
  );
  app.use(
    '/api/v1/encryption',
    encryptionRoutes({ keyRotation: deps.keyRotation, encryption: deps.encryption, authenticate, authorize, logger }),
  );
  app.use('/api/v1/api-keys', apiKeyRoutes({ apiKeys: deps.apiKeys, policy: deps.policy, authenticate, authorize }));

  answerWrongMethods(app.router);
  app.use(notFound());
  app.use(errorHandler(logger));
  return app;
}
