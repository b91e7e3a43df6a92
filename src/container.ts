import type { Config } from './config';
import type { Logger } from './lib/logger';
import { Database } from './lib/database';
import { createRedis, waitForRedis, type RedisClient } from './lib/redis';
import { redisTopology } from './config/redis-topology';
import { HealthCheckService } from './services/health/health-check.service';
import { standardChecks } from './services/health/checks';
import { AppMetrics } from './services/health/metrics';
import type { AlertRaiser } from './services/alerts/alert-raiser';
import { Scheduler } from './jobs/scheduler';
import { registerModels, type Models } from './models';
import { AuditTrail, RedisAuditHead } from './services/audit/audit-trail';
import { EncryptionService } from './services/encryption/encryption.service';
import { StaticKeyProvider } from './services/encryption/keyring';
import { PasswordHasher } from './services/encryption/password-hasher';
import { EncryptedFieldRegistry, type UndecryptableValue } from './services/encryption/field-encryption.plugin';
import { KeyRotation } from './services/encryption/key-rotation';
import { ApiKeyService } from './services/api-keys/api-key.service';
import { createAuthorize } from './middleware/rbac';
import { RoleService } from './services/access/role.service';
import { AccessPolicy } from './services/access/access-policy';
import { EmployeeService } from './services/employees/employee.service';
import { InvoiceService } from './services/invoices/invoice.service';
import { VersionedWriter } from './services/versioning/versioned-writer';
import { GdprService } from './services/gdpr/gdpr.service';
import { TokenService, type JwtKeyConfig } from './services/auth/token.service';
import { RequestBearer } from './services/auth/request-bearer';
import { SessionService } from './services/auth/session.service';
import { SessionRevocation, sessionFactsFromDb } from './services/auth/session-revocation';
import { SecurityEvents, type SecurityEventListener } from './services/auth/security-events';
import { SingleUseClaims } from './services/auth/single-use-claims';
import { LoginGuard } from './services/auth/login-guard';
import { EmailSender, SmsSender } from './services/auth/senders';
import { TwoFactorAuthService } from './services/two-factor-auth/two-factor-auth.service';
import { AuthService } from './services/auth/auth.service';
import { UserService } from './services/users/user.service';
import { authenticator } from './middleware/authenticate';
import type { RequestClient } from 'twilio';
import { createRateLimiters } from './middleware/rate-limit';
import type { AppDeps } from './app';
import { VERSION } from './lib/version';
import { LeaseManager } from './jobs/lease';
import { BackupRestoreService } from './services/backup-restore/backup-restore.service';
import { createBackupRestore, processHolderId } from './services/backup-restore/backup-restore.factory';
import { buildAlerting } from './services/alerts/alerting';
import type { AlertSources } from './services/alerts/alert-sources';
import type { AlertDeliveryWorker } from './services/alerts/alert-delivery';
import type { PublisherSlot } from './services/alerts/dashboard.channel';
import { AlertQueryService } from './services/alerts/alert-query.service';
import { AlertStream } from './services/alerts/alert-stream';
import { PasskeyService } from './services/passkeys/passkey.service';

export interface Container {
  deps: AppDeps;
  database: Database;
  redis: RedisClient;
  models: Models;
  scheduler: Scheduler;
  /** Session and token services (for operator tooling and tests that need a session of a given shape). */
  sessions: SessionService;
  tokens: TokenService;
  backups: BackupRestoreService;
  /** Sends the alert outbox; start()/stop() run it, tests drive it with runOnce(). */
  alertDelivery: AlertDeliveryWorker;
  /** Where alert changes go live: connect the alert stream (AlertChangePublisher) here. */
  alertPublisher: PublisherSlot;
  /** Connects to the datastores and prepares indexes. */
  start(): Promise<void>;
  /** Settles when the checks start() leaves running (interrupted-restore recovery, missed backups) have ended. */
  startupSettled(): Promise<void>;
  /** Stops jobs, then closes Redis and MongoDB (reverse boot order). */
  stop(): Promise<void>;
}

/**
 * The composition root: the only place that creates the MongoDB and Redis clients, the
 * services and the scheduler, in boot order. Tests call it with their own config.
 */
export interface ContainerOptions {
  /** A fake clock for tests; every service reads time through it. */
  now?: () => Date;
  /** Twilio's HTTP client (tests point the real client at a loopback peer). */
  twilioHttpClient?: RequestClient;
  /** Called once per stored value that fails to decrypt (the alerting hook); it is logged either way. */
  onUndecryptable?: (value: UndecryptableValue) => void;
  /** Told of every refused credential (the AlertService hooks in here; tests listen too). */
  onSecurityEvent?: SecurityEventListener;
  /** Where backup failures are raised (AlertService at merge; tests record them). Logged when absent. */
  backupAlerts?: AlertRaiser;
  /** Where health threshold alerts go (the lead wires AlertService; tests pass RecordingAlerts). */
  healthAlerts?: AlertRaiser;
  /** When the last verified backup was taken (BackupRestoreService); enables the backup age check. */
  lastVerifiedBackupAt?: () => Promise<Date | null>;
}

/** JWT key material leaves its Secret only here, where the TokenService turns it into KeyObjects. */
function jwtKeyOf(config: Config): JwtKeyConfig {
  return config.jwt.algorithm === 'HS256'
    ? { algorithm: 'HS256', secret: config.jwt.secret.reveal() }
    : { algorithm: 'ES256', privateKeyPem: config.jwt.privateKeyPem.reveal(), publicKeyPem: config.jwt.publicKeyPem };
}

export function createContainer(config: Config, logger: Logger, opts: ContainerOptions = {}): Container {
  // Signals detected by services built before the AlertService (audit, auth) reach it through here.
  // eslint-disable-next-line prefer-const
  let alertSources: AlertSources | undefined;
  const database = new Database({ ...config.mongodb, autoIndex: !config.isProduction }, logger);
  const redis = createRedis({ topology: redisTopology(config.redis), logger }, { keyPrefix: config.redis.keyPrefix });
  const encryption = new EncryptionService({
    keyProvider: new StaticKeyProvider(
      config.encryption.keys.map((k) => ({ id: k.id, key: k.key.reveal() })),
      config.encryption.activeKeyId,
    ),
    blindIndexKey: config.encryption.blindIndexKey.reveal(),
    passwords: new PasswordHasher(
      config.passwords.bcryptCost,
      config.passwords.pepper?.reveal(),
      config.passwords.concurrency,
    ),
    logger,
  });
  const encryptedFields = new EncryptedFieldRegistry({ logger, onUndecryptable: opts.onUndecryptable });
  const models = registerModels(database.connection, { cipher: encryption, registry: encryptedFields });
  const audit = new AuditTrail({
    events: models.AuditEvent,
    counters: models.AuditCounter,
    keys: config.audit.hmacKeys.map((k) => ({ id: k.id, key: k.key.reveal() })),
    activeKeyId: config.audit.activeHmacKeyId,
    head: new RedisAuditHead(redis),
    logger,
    now: opts.now,
    onChainBroken: (v) => alertSources?.auditChainBroken(v),
  });
  const roles = new RoleService({ roles: models.Role, users: models.User, audit, now: opts.now });
  const policy = new AccessPolicy({ roles, mfaRequiredRoles: config.auth.mfaRequiredRoles });
  const authorize = createAuthorize({ policy, audit });
  const writer = new VersionedWriter({ claims: models.VersionClaim, now: opts.now });
  const securityEvents = new SecurityEvents({
    redis,
    audit,
    logger,
    onSecurityEvent: (e) => {
      alertSources?.securityEvent(e);
      opts.onSecurityEvent?.(e);
    },
    now: opts.now,
  });
  const onOutOfScope = (e: { resource: string; resourceId: string }) => securityEvents.outOfScope(e);
  const employees = new EmployeeService({ employees: models.Employee, policy, audit, writer, onOutOfScope });
  const invoices = new InvoiceService({
    invoices: models.Invoice,
    policy,
    audit,
    writer,
    approverMayPay: config.invoices.approverMayPay,
    onOutOfScope,
    now: opts.now,
  });
  const keyRotation = new KeyRotation({
    db: () => database.db(),
    cipher: encryption,
    registry: encryptedFields,
    logger,
    audit,
    now: opts.now,
  });
  const claims = new SingleUseClaims({ claims: models.SingleUseClaim, now: opts.now });
  const apiKeys = new ApiKeyService({
    keys: models.ApiKey,
    audit,
    claims,
    writer,
    secret: config.encryption.blindIndexKey.reveal(),
    grantsOf: (role) => roles.grantsOf(role),
    maxLifetimeDays: config.apiKeys.maxLifetimeDays,
    now: opts.now,
  });
  const tokens = new TokenService({
    key: jwtKeyOf(config),
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    accessTtlSeconds: config.auth.accessTtlSeconds,
    redis,
    revocation: new SessionRevocation({
      redis,
      lookup: sessionFactsFromDb({
        sessions: models.Session,
        users: models.User,
        claims,
        secondFactorRequired: (role) => policy.requiresSecondFactor(role),
        now: opts.now ?? (() => new Date()),
      }),
      accessTtlSeconds: config.auth.accessTtlSeconds,
      logger,
    }),
    now: opts.now,
  });
  const sessions = new SessionService({
    sessions: models.Session,
    tokens,
    claims,
    audit,
    refreshTtlDays: config.auth.refreshTtlDays,
    now: opts.now,
    onReuse: (e) => alertSources?.refreshTokenReuse(e),
  });
  const guard = new LoginGuard({
    redis,
    now: opts.now,
    ipv6Subnet: config.rateLimits.ipv6Subnet,
    onAddressRefused: (address) => alertSources?.passwordSpraying(address),
  });
  const metrics = new AppMetrics();
  const bearer = new RequestBearer(tokens);
  const rateLimiters = createRateLimiters({
    onRejected: (tier) => metrics.rateLimitRejected(tier),
    redis,
    logger,
    tiers: config.rateLimits.tiers,
    ipv6Subnet: config.rateLimits.ipv6Subnet,
    bearerSubject: (header, req) => bearer.subject(req, header),
    onRedisDown: (tier, err) => alertSources?.redisDown(`rate limiter, ${tier} tier`, err),
  });
  const email = new EmailSender({ smtpUrl: config.mail.smtpUrl?.reveal(), from: config.mail.from, logger });
  const sms = new SmsSender({
    config: config.sms && { ...config.sms, authToken: config.sms.authToken.reveal() },
    logger,
    httpClient: opts.twilioHttpClient,
  });
  const twoFactor = new TwoFactorAuthService({
    users: models.User,
    challenges: models.OtpChallenge,
    claims,
    guard,
    encryption,
    audit,
    email,
    sms,
    logger,
    totpIssuer: config.auth.totpIssuer,
    passkeyCredentials: models.PasskeyCredential,
    now: opts.now,
  });
  const auth = new AuthService({
    users: models.User,
    encryption,
    tokens,
    sessions,
    twoFactor,
    guard,
    claims,
    audit,
    logger,
    secondFactorRequired: (role) => policy.requiresSecondFactor(role),
    onLoginSuccess: (email, ip) => rateLimiters.resetAuth(ip, email),
    // The limiter files a second step under `mfa:<user id>` (rate-limit.ts, accountOf).
    onSecondFactorSuccess: (userId, ip) => rateLimiters.resetAuth(ip, `mfa:${userId}`),
    onSecurityAlert: (alert) => alertSources?.securityAlert(alert),
  });
  const users = new UserService({
    users: models.User,
    encryption,
    audit,
    sessions,
    twoFactor,
    email,
    logger,
    roleExists: (role) => roles.exists(role),
  });
  const gdpr = new GdprService({
    models,
    policy,
    audit,
    sessions,
    encryption,
    writer,
    email,
    logger,
    confirmPassword: async (userId, password) => void (await auth.reauthenticate(userId, password, 'gdpr.export')),
    now: opts.now,
  });
  const authenticate = authenticator({
    bearer,
    apiKeys,
    users: models.User,
    apiKeyLimiter: rateLimiters.apiKey,
    securityEvents,
  });
  const alerting = buildAlerting({
    config,
    models,
    writer,
    claims,
    audit,
    logger,
    redis,
    twilioHttpClient: opts.twilioHttpClient,
    onRaised: (severity) => metrics.alertRaised(severity),
    now: opts.now,
  });
  const { alerts } = alerting;
  alertSources = alerting.sources;
  const startupChecks: Array<Promise<unknown>> = [];
  const leases = new LeaseManager({ leases: models.JobLease, now: opts.now });
  const holderId = processHolderId();
  const { backups, jobs: backupJobs } = createBackupRestore({
    config,
    database,
    models,
    encryption,
    audit,
    alerts: opts.backupAlerts ?? alerts,
    onFinished: (result, at) => metrics.backupFinished(result, at),
    leases,
    logger,
    holderId,
    now: opts.now,
  });
  const health = new HealthCheckService({
    ...standardChecks({
      config,
      database,
      redis,
      auditEvents: models.AuditEvent,
      lastVerifiedBackupAt:
        opts.lastVerifiedBackupAt ?? (config.backups.enabled ? () => backups.lastVerifiedBackupAt() : undefined),
      backupDir: config.health.diskPath ?? config.backups.dir,
      now: opts.now ?? (() => new Date()),
    }),
    timeoutMs: config.health.timeoutMs,
    sampleIntervalMs: config.health.sampleIntervalMs,
    readyPingMinIntervalMs: config.health.readyPingMinIntervalMs,
    thresholds: config.health.thresholds,
    alertAfterSamples: config.health.alertAfterSamples,
    alerts: opts.healthAlerts ?? alerts,
    metrics,
    samples: models.HealthSample,
    snapshotIntervalMs: config.health.snapshotIntervalMs,
    historyRetentionDays: config.health.historyRetentionDays,
    version: VERSION,
    logger,
    now: opts.now,
  });
  const alertQueries = new AlertQueryService({ alerts: models.Alert, deliveries: models.AlertDelivery, now: opts.now });
  const alertStream = new AlertStream({
    redis,
    channel: `${config.redis.keyPrefix}alerts:changes`,
    alerts: models.Alert,
    logger,
    heartbeatMs: config.alertStream.heartbeatMs,
    maxClients: config.alertStream.maxClients,
    maxLifetimeMs: config.auth.accessTtlSeconds * 1000,
  });
  alerting.publisher.connect(alertStream);
  const passkeys = new PasskeyService({
    credentials: models.PasskeyCredential,
    challenges: models.PasskeyChallenge,
    users: models.User,
    claims,
    audit,
    email,
    alerts,
    logger,
    config: config.passkeys,
    auth,
    secondFactorRequired: (role) => policy.requiresSecondFactor(role),
    issueBackupCodes: (userId) => twoFactor.regenerateBackupCodes(userId, true),
    now: opts.now,
  });
  const scheduler = new Scheduler(
    [
      { name: 'auth-retention', schedule: config.auth.retentionCron, run: () => auth.purgeExpired() },
      // Passkey ceremonies expire like one-time codes, on the same schedule.
      { name: 'passkey-retention', schedule: config.auth.retentionCron, run: () => passkeys.purgeExpiredChallenges() },
      { name: 'health-retention', schedule: config.health.retentionCron, run: () => health.purgeExpired() },
      ...backupJobs,
      {
        name: 'alert-retention',
        schedule: config.alerts.retentionCron,
        run: () => alerts.purgeResolved(config.alerts.retentionDays),
      },
    ],
    logger,
    'UTC',
    { leases, holderId },
  );

  return {
    deps: {
      config,
      logger,
      gates: { authenticate, authorize, rateLimiters },
      identity: { auth, twoFactor, users, apiKeys, passkeys },
      access: { policy, roles },
      protection: { encryption, keyRotation, audit, gdpr },
      resources: { employees, invoices },
      operations: { health, metrics, backups, alerts, alertQueries, alertStream },
    },
    database,
    redis,
    models,
    scheduler,
    sessions,
    tokens,
    backups,
    alertDelivery: alerting.worker,
    alertPublisher: alerting.publisher,
    async start() {
      if (config.devDefaultsUsed.length) {
        logger.warn({ keys: config.devDefaultsUsed }, 'using insecure development defaults (refused in production)');
      }
      await encryption.init();
      await auth.warmUp();
      await database.connect();
      if (!(await waitForRedis(redis, 5_000)))
        logger.error(
          'redis is not reachable; continuing (readiness reports it, rate limits fail open/closed per tier)',
        );
      if (config.mongodb.syncIndexesOnBoot) await database.syncIndexes();
      if (config.auth.bootstrapAdmin) {
        const created = await users.bootstrapAdmin(
          config.auth.bootstrapAdmin.email,
          config.auth.bootstrapAdmin.password.reveal(),
        );
        logger.warn(
          created ? { userId: created.id } : {},
          created
            ? 'bootstrap admin created: remove BOOTSTRAP_ADMIN_* now'
            : 'BOOTSTRAP_ADMIN_* ignored: an admin already exists',
        );
      }
      await health.start();
      // A restore killed mid-swap is rolled forward (or one killed while staging rolled back) as soon as the lease allows.
      startupChecks.push(
        backups
          .recoverInterruptedRestores()
          .then(() => undefined)
          .catch((err: unknown) =>
            logger.warn({ err }, 'interrupted-restore recovery deferred to the next backup run'),
          ),
      );
      if (config.backups.enabled)
        startupChecks.push(
          backups.checkMissed().catch((err: unknown) => logger.error({ err }, 'missed-backup check failed')),
        );
      if (alerting.unavailable.length)
        logger.warn(
          { channels: alerting.unavailable },
          'alert channels not configured: alerts routed to them are skipped',
        );
      try {
        scheduler.start();
        alerting.worker.start();
      } catch (err) {
        logger.error({ err }, 'jobs failed to start');
        alerting.sources.jobsFailedToStart(err as Error);
        throw err;
      }
    },
    async startupSettled() {
      await Promise.allSettled(startupChecks);
    },
    async stop() {
      await health.stop();
      await scheduler.stop();
      await Promise.allSettled(startupChecks);
      await backups.stop();
      await alerting.worker.stop();
      await alerts.drain();
      // A background key rotation stops after its batch (resumable) before the database closes.
      await keyRotation.stop();
      await alertStream.stop();
      email.close();
      redis.disconnect();
      await database.close();
    },
  };
}
