import { z } from 'zod';
import cron from 'node-cron';
import { BASE_ROLES, isBaseRole } from '../services/access/policy';

const isTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

/**
 * Every environment variable the service reads, in one zod object. Each key's
 * `.describe()` text is its documentation: scripts/gen-env-example.ts writes
 * .env.example from this file, so the two cannot drift.
 */

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

const list = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    );

const MAX_RATE_LIMIT = 1_000_000;
const MAX_RATE_WINDOW_SECONDS = 86_400;

/**
 * `<count>/<seconds>`, e.g. `100/60`. Zero is refused: a zero window admits everything
 * (every entry has already expired) and a zero limit locks everyone out; both are typos.
 */
const rate = (def: string) =>
  z
    .string()
    .regex(/^\d+\/\d+$/, 'must look like <requests>/<seconds>, e.g. 100/60')
    .default(def)
    .transform((v, ctx) => {
      const [limit, seconds] = v.split('/').map(Number);
      if (limit < 1 || limit > MAX_RATE_LIMIT)
        ctx.addIssue({ code: 'custom', message: `requests must be at least 1 and at most ${MAX_RATE_LIMIT}` });
      if (seconds < 1 || seconds > MAX_RATE_WINDOW_SECONDS)
        ctx.addIssue({
          code: 'custom',
          message: `window must be at least 1 second and at most ${MAX_RATE_WINDOW_SECONDS} (one day)`,
        });
      return { limit, windowMs: seconds * 1000 };
    });

/** `<warn>/<fail>` thresholds, e.g. `100/500`; warn must not exceed fail. */
const limits = (def: string) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?\/\d+(\.\d+)?$/, 'must look like <warn>/<fail>, e.g. 100/500')
    .default(def)
    .transform((v, ctx) => {
      const [warn, fail] = v.split('/').map(Number);
      if (warn > fail) ctx.addIssue({ code: 'custom', message: 'the warn limit must not exceed the fail limit' });
      return { warn, fail };
    });

/** Empty strings in a .env file mean "unset". */
const optionalString = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

export const envSchema = z.object({
  // --- server
  NODE_ENV: z
    .enum(['development', 'test', 'production'])
    .default('development')
    .describe('Runtime mode; production refuses insecure defaults.'),
  HOST: z.string().min(1).default('127.0.0.1').describe('Interface the HTTP server binds to.'),
  PORT: int(3000, 0, 65535).describe('TCP port of the HTTP server.'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino log level.'),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100, 600_000).describe(
    'Graceful shutdown: forced exit after this many ms of draining.',
  ),
  TRUST_PROXY: z
    .string()
    .default('loopback')
    .describe(
      "Express 'trust proxy': hop count of the reverse proxy (e.g. 1) or comma-separated addresses/subnets/keywords (loopback, uniquelocal); 'true' is refused.",
    ),
  HTTP_MAX_HEADER_BYTES: int(16_384, 2_048, 65_536).describe(
    'Largest request line plus headers in bytes; larger requests get 431 problem+json. Keep it at or above what the proxy forwards.',
  ),
  HTTP_HEADERS_TIMEOUT_MS: int(66_000, 1_000, 600_000).describe(
    'Time a client has to send the complete request headers (slow-loris guard); the connection is then answered 408 and closed. Above HTTP_KEEP_ALIVE_TIMEOUT_MS.',
  ),
  HTTP_REQUEST_TIMEOUT_MS: int(30_000, 1_000, 3_600_000).describe(
    'Time a client has to send the complete request, headers and body; a slower request is answered 408 and closed.',
  ),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(65_000, 1_000, 600_000).describe(
    "How long an idle keep-alive connection stays open; keep it longer than the proxy's upstream keep-alive (nginx: 60 s).",
  ),
  BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i)
    .default('100kb')
    .describe('Largest accepted JSON body; larger bodies get 413.'),

  CONSOLE_DIR: z
    .string()
    .min(1)
    .default('dist/console')
    .describe(
      'Directory of the built operations console (`npm run build` writes dist/console), served at /console; relative to the working directory.',
    ),

  // --- MongoDB
  MONGODB_URI: optionalString()
    .refine((v) => v === undefined || /^mongodb(\+srv)?:\/\//.test(v), 'must be a mongodb:// or mongodb+srv:// URI')
    .describe('MongoDB connection string with database name and replica-set options (required in production).'),
  MONGODB_MIN_POOL_SIZE: int(5, 0, 1000).describe('Connections the driver pool keeps open.'),
  MONGODB_MAX_POOL_SIZE: int(10, 1, 1000).describe('Upper bound of the driver pool.'),
  MONGODB_SERVER_SELECTION_TIMEOUT_MS: int(5_000, 100, 120_000).describe(
    'How long an operation waits for a usable server.',
  ),
  MONGODB_SOCKET_TIMEOUT_MS: int(45_000, 1_000, 600_000).describe('Socket inactivity timeout.'),
  MONGODB_WAIT_QUEUE_TIMEOUT_MS: int(10_000, 0, 120_000).describe(
    'How long an operation waits for a free pooled connection before its request is answered 503 (0: no bound). Bounds the backlog of an overloaded database: work whose client has given up leaves the queue instead of running later.',
  ),
  MONGODB_HEARTBEAT_FREQUENCY_MS: int(10_000, 500, 120_000).describe('Server monitoring heartbeat interval.'),
  MONGODB_MONITOR_COMMANDS: bool(false).describe(
    'Emit the driver command monitoring events (commandStarted/Succeeded/Failed), for diagnosis and tests that count commands.',
  ),
  MONGODB_SYNC_INDEXES_ON_BOOT: bool(true).describe(
    'Create missing indexes at boot (autoIndex is off in production); if false run `npm run db:sync-indexes` on deploy.',
  ),

  // --- Redis
  REDIS_URL: optionalString()
    .refine((v) => v === undefined || /^rediss?:\/\//.test(v), 'must be a redis:// or rediss:// URL')
    .describe(
      'Redis URL (required in production). Unset in development/test: redis://127.0.0.1:6379 (npm run dev starts one).',
    ),
  REDIS_KEY_PREFIX: z.string().default('erp:').describe('Prefix of every key this service writes in Redis.'),
  REDIS_SENTINELS: optionalString().describe(
    'High availability through Redis Sentinel: comma-separated sentinel addresses, host:port (e.g. 10.0.0.5:26379,10.0.0.6:26379,10.0.0.7:26379). Replaces REDIS_URL; needs REDIS_SENTINEL_NAME. See docs/SCALING.md.',
  ),
  REDIS_SENTINEL_NAME: optionalString().describe(
    'With REDIS_SENTINELS: the master name the sentinels monitor (`sentinel monitor <name> ...`).',
  ),
  REDIS_SENTINEL_PASSWORD: optionalString().describe(
    'With REDIS_SENTINELS: password of the sentinels themselves (their requirepass), if set.',
  ),
  REDIS_CLUSTER_NODES: optionalString().describe(
    'Redis Cluster: comma-separated seed nodes, host:port (any few masters or replicas; the rest is discovered). Replaces REDIS_URL; not together with REDIS_SENTINELS. See docs/SCALING.md.',
  ),
  REDIS_USERNAME: optionalString().describe(
    'With REDIS_SENTINELS or REDIS_CLUSTER_NODES: ACL user of the Redis data nodes (with REDIS_URL put it in the URL).',
  ),
  REDIS_PASSWORD: optionalString().describe(
    'With REDIS_SENTINELS or REDIS_CLUSTER_NODES: password of the Redis data nodes (with REDIS_URL put it in the URL).',
  ),

  LOCAL_SERVICES_FILE: z
    .string()
    .default('.data/local-services.json')
    .describe(
      'Outside production: where `npm run dev` records the MongoDB and Redis URLs it uses; `npm run cli` reads them when MONGODB_URI/REDIS_URL are unset (relative to the repository root).',
    ),

  // --- health
  HEALTH_CHECK_TIMEOUT_MS: int(2_000, 50, 60_000).describe(
    'Time each readiness probe (MongoDB ping, Redis ping) may take.',
  ),
  HEALTH_SAMPLE_INTERVAL_MS: int(15_000, 1_000, 3_600_000).describe(
    'How often the health sampler runs every check; the /health endpoints serve its latest results.',
  ),
  HEALTH_READY_PING_MIN_INTERVAL_MS: int(1_000, 100, 60_000).describe(
    '/health/ready pings MongoDB and Redis afresh at most this often; between pings it serves the last answer.',
  ),
  HEALTH_DB_LATENCY_MS: limits('100/500').describe('MongoDB ping latency thresholds in ms, <warn>/<fail>.'),
  HEALTH_REDIS_LATENCY_MS: limits('100/500').describe('Redis PING latency thresholds in ms, <warn>/<fail>.'),
  HEALTH_EVENT_LOOP_DELAY_MS: limits('50/200').describe('Event-loop delay p99 thresholds in ms, <warn>/<fail>.'),
  HEALTH_MEMORY_PERCENT: limits('80/90').describe(
    'System memory, and V8 heap against its limit, in percent used, <warn>/<fail>.',
  ),
  HEALTH_DISK_PERCENT: limits('80/90').describe(
    'Disk use of the file system holding HEALTH_DISK_PATH (the backup directory), in percent, <warn>/<fail>.',
  ),
  HEALTH_CPU_LOAD_PER_CORE: limits('1.5/3').describe('1-minute load average divided by CPU cores, <warn>/<fail>.'),
  HEALTH_BACKUP_AGE_HOURS: limits('26/50').describe('Age of the last verified backup in hours, <warn>/<fail>.'),
  HEALTH_FAILED_LOGINS: limits('20/100').describe(
    'Failed logins (audit trail) within HEALTH_FAILED_LOGIN_WINDOW_MINUTES, <warn>/<fail>.',
  ),
  HEALTH_FAILED_LOGIN_WINDOW_MINUTES: int(15, 1, 1_440).describe('Window of the failed-login rate check.'),
  HEALTH_DISK_PATH: optionalString().describe(
    'Directory whose file system the disk check measures: where backups are written (default: the working directory).',
  ),
  HEALTH_ENDPOINTS: optionalString().describe(
    'HTTP dependencies to probe, comma-separated `name=url[|expectedStatus[|timeoutMs[|warnMs]]]` (default status 200, timeout 5000 ms, warn at half the timeout).',
  ),
  HEALTH_ALERT_AFTER_SAMPLES: int(3, 1, 100).describe(
    'A check must hold a new status for this many consecutive samples before an alert is raised or resolved (flap damping).',
  ),
  HEALTH_SNAPSHOT_INTERVAL_MS: int(60_000, 1_000, 3_600_000).describe(
    'How often a sample is also stored in MongoDB (health_samples) for history beyond this process.',
  ),
  HEALTH_HISTORY_RETENTION_DAYS: int(7, 1, 366).describe('Stored health samples older than this are deleted.'),
  HEALTH_RETENTION_CRON: z
    .string()
    .default('23 * * * *')
    .describe('Cron schedule (UTC) of the job that deletes expired health samples.'),
  METRICS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Interface of the internal metrics listener (only with METRICS_PORT): keep it on a private network.'),
  METRICS_PORT: z.coerce
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe(
      'Port of an internal listener that serves only GET /metrics (token still required when METRICS_TOKEN is set). Unset: no listener.',
    ),
  METRICS_TOKEN: optionalString()
    .refine((v) => v === undefined || v.length >= 24, 'must be at least 24 characters')
    .describe('Bearer token Prometheus sends to GET /metrics (at least 24 characters). Unset: /metrics answers 404.'),

  // --- backups (docs/BACKUP_RESTORE.md)
  BACKUP_ENABLED: bool(true).describe('Run the scheduled daily and weekly backups (once per cluster, under a lease).'),
  BACKUP_DIR: z
    .string()
    .min(1)
    .default('.data/backups')
    .describe('Local directory of backups (kept until the S3 copy is verified).'),
  BACKUP_DAILY_CRON: z
    .string()
    .min(9)
    .default('0 2 * * *')
    .refine((v) => cron.validate(v), 'must be a valid cron expression')
    .describe('When the daily backup runs (cron, BACKUP_TIMEZONE).'),
  BACKUP_WEEKLY_CRON: z
    .string()
    .min(9)
    .default('0 3 * * 0')
    .refine((v) => cron.validate(v), 'must be a valid cron expression')
    .describe('When the weekly backup runs (cron, BACKUP_TIMEZONE).'),
  BACKUP_TIMEZONE: z
    .string()
    .min(1)
    .default('UTC')
    .refine(isTimeZone, 'must be an IANA timezone, e.g. Europe/Berlin')
    .describe('IANA timezone of the backup cron expressions.'),
  BACKUP_VERIFY_AFTER: bool(true).describe('Verify every scheduled backup by restoring it into a scratch database.'),
  BACKUP_KEEP_DAILY_DAYS: int(30, 1, 3650).describe('How long daily (and manual) backups are kept.'),
  BACKUP_KEEP_WEEKLY_WEEKS: int(12, 1, 520).describe('How long weekly backups are kept.'),
  BACKUP_MISSED_GRACE_HOURS: int(3, 1, 48).describe(
    'A scheduled backup older than its period plus this grace counts as missed (critical alert).',
  ),
  BACKUP_ENCRYPT: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .describe(
      'Encrypt backup files at rest (AES-256-GCM, data key wrapped by the keyring). Default: true in production.',
    ),
  BACKUP_S3_BUCKET: optionalString().describe('S3 bucket for the off-site copy; no S3 copy without it.'),
  BACKUP_S3_PREFIX: z.string().default('backups/').describe('Key prefix of backups in the bucket.'),
  BACKUP_S3_REGION: z.string().min(1).default('us-east-1').describe('S3 region.'),
  BACKUP_S3_ENDPOINT: optionalString().describe('S3-compatible endpoint URL (MinIO, versitygw, ...); AWS when unset.'),
  BACKUP_S3_FORCE_PATH_STYLE: bool(false).describe(
    'Path-style bucket addressing (most S3-compatible servers need it).',
  ),
  BACKUP_S3_ACCESS_KEY_ID: optionalString().describe('S3 access key id; the AWS default credential chain when unset.'),
  BACKUP_S3_SECRET_ACCESS_KEY: optionalString().describe('S3 secret access key.'),
  BACKUP_S3_SSE: z.enum(['none', 'AES256', 'aws:kms']).default('AES256').describe('Server-side encryption of uploads.'),
  BACKUP_S3_KMS_KEY_ID: optionalString().describe('KMS key id when BACKUP_S3_SSE=aws:kms.'),
  BACKUP_S3_OBJECT_LOCK_DAYS: int(0, 0, 3650).describe(
    'Object Lock retention of uploads in days (0 = off; the bucket must have Object Lock enabled).',
  ),
  BACKUP_S3_OBJECT_LOCK_MODE: z
    .enum(['COMPLIANCE', 'GOVERNANCE'])
    .default('COMPLIANCE')
    .describe('Object Lock mode of uploads.'),

  // --- alert API and live stream
  ALERT_STREAM_HEARTBEAT_MS: int(15_000, 50, 300_000).describe(
    'Interval of the keep-alive comment on GET /api/v1/alerts/stream (keeps proxies from closing an idle stream).',
  ),
  ALERT_STREAM_MAX_CLIENTS: int(500, 1, 100_000).describe(
    'Most live alert streams one process holds open; more are refused with 503 and Retry-After.',
  ),

  // --- security
  CORS_ORIGINS: list('').describe(
    'Comma-separated exact origins of the ERP frontends allowed to call the API cross-origin.',
  ),
  JWT_ALGORITHM: z
    .enum(['HS256', 'ES256'])
    .default('HS256')
    .describe(
      'Access-token signature: HS256 (shared secret) or ES256 (P-256 key pair, verifiable without the signing key).',
    ),
  JWT_SECRET: optionalString().describe(
    'HS256 secret for access tokens, at least 32 bytes (required in production with HS256).',
  ),
  JWT_PRIVATE_KEY: optionalString().describe(
    'ES256: PEM private key (P-256); literal \\n sequences are read as newlines.',
  ),
  JWT_PUBLIC_KEY: optionalString().describe('ES256: PEM public key matching JWT_PRIVATE_KEY.'),
  ENCRYPTION_KEYS: optionalString().describe(
    'Field-encryption keyring: comma-separated id:base64key pairs, each key exactly 32 bytes (required in production).',
  ),
  ENCRYPTION_ACTIVE_KEY_ID: optionalString().describe(
    'Keyring id that encrypts new data; defaults to the last key listed.',
  ),
  BLIND_INDEX_KEY: optionalString().describe(
    'base64 HMAC-SHA256 key (>= 32 bytes) for blind indexes of encrypted fields and API-key hashes (required in production).',
  ),
  AUDIT_HMAC_KEYS: optionalString().describe(
    'Audit-chain MAC keyring: comma-separated id:base64key pairs, each key at least 32 bytes (required in production); keep an id for as long as entries it signed are kept.',
  ),
  AUDIT_HMAC_ACTIVE_KEY_ID: optionalString().describe(
    'AUDIT_HMAC_KEYS id that signs new audit entries; defaults to the last key listed.',
  ),
  BCRYPT_COST: int(12, 10, 15).describe('bcrypt work factor for password hashes (10-15).'),
  BCRYPT_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .optional()
    .describe(
      'Password hashes/comparisons computed at once per process (bcrypt runs on the libuv thread pool; the rest queue). Default: CPU cores - 1 (at least 1), so logins never take every core from the event loop. Keep UV_THREADPOOL_SIZE (default 4) above it.',
    ),
  PASSWORD_PEPPER: optionalString().describe(
    'Optional server secret (>= 32 bytes) keying the HMAC pre-hash of passwords; changing it invalidates every password.',
  ),
  API_KEY_MAX_LIFETIME_DAYS: int(365, 1, 3650).describe('Longest expiry an API key may be given.'),
  INVOICE_APPROVER_MAY_PAY: bool(false).describe(
    'Segregation of duties: whether the person who approved an invoice may also pay it (its creator never may).',
  ),

  // --- edge protection
  // Tri-state (unset = by environment), but only the boolean spellings: `on` or `TRUE` must not silently turn HSTS off.
  HSTS_ENABLED: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .describe(
      'Send Strict-Transport-Security (1 year, includeSubDomains); default true in production, false elsewhere.',
    ),
  HSTS_PRELOAD: bool(false).describe('Add `preload` to HSTS (only once the domain is submitted to the preload list).'),
  CORS_MAX_AGE_SECONDS: int(600, 0, 86_400).describe('How long browsers may cache a CORS preflight answer.'),
  RATE_LIMIT_GENERAL: rate('100/60').describe('General tier, per user (or API key, else IP): requests/seconds.'),
  RATE_LIMIT_AUTH: rate('5/900').describe(
    'Auth tier (login, 2FA verify, password change), per IP and account: attempts/seconds.',
  ),
  RATE_LIMIT_PAYMENT: rate('10/60').describe('Payment tier (paying invoices), per user: requests/seconds.'),
  RATE_LIMIT_API_KEY: rate('20/3600').describe('API-key tier, per key: requests/seconds.'),
  RATE_LIMIT_GENERAL_FAIL_OPEN: bool(true).describe(
    'When Redis is down, let general-tier requests through (true) or refuse with 503.',
  ),
  RATE_LIMIT_AUTH_FAIL_OPEN: bool(false).describe(
    'When Redis is down, let auth-tier requests through (true) or refuse with 503 (default: refuse).',
  ),
  RATE_LIMIT_IPV6_SUBNET: int(56, 32, 128).describe(
    'IPv6 clients share a rate-limit key per this prefix length (/56 or /64 typical).',
  ),

  // --- identity and 2FA
  AUTH_RETENTION_CRON: z
    .string()
    .min(9)
    .default('17 3 * * *')
    .describe('When expired sessions and one-time codes are purged (cron, UTC); FerretDB has no TTL indexes.'),
  JWT_ISSUER: z.string().min(1).default('erp-backend').describe('`iss` of access tokens, checked on every request.'),
  JWT_AUDIENCE: z.string().min(1).default('erp-api').describe('`aud` of access tokens, checked on every request.'),
  JWT_ACCESS_TTL_SECONDS: int(900, 60, 3600).describe('Lifetime of access tokens (15 minutes by default).'),
  REFRESH_TTL_DAYS: int(14, 1, 90).describe('Lifetime of a login session and its rotating refresh tokens.'),
  MFA_REQUIRED_ROLES: optionalString()
    .refine(
      (v) => v === undefined || v.split(',').every((r) => r.trim() === '' || isBaseRole(r.trim())),
      `must list base roles only (${BASE_ROLES.join(', ')})`,
    )
    .describe(
      'Comma-separated base roles at or above which 2FA is mandatory: any role, custom ones included, whose grants (inherited ones too) go beyond those of the role below a listed one must enroll. Default admin,manager in production (every role with a manager-level or administrative grant), none elsewhere.',
    ),
  TOTP_ISSUER: z.string().min(1).default('ERP').describe('Issuer shown by authenticator apps.'),
  SMTP_URL: optionalString().describe(
    'SMTP server for one-time codes and notices, e.g. smtps://user:pass@mail.example.com:465 (required in production).',
  ),
  MAIL_FROM: z.string().default('ERP Security <security@erp.invalid>').describe('From address of security mail.'),
  TWILIO_ACCOUNT_SID: optionalString().describe('Twilio account SID for SMS codes; SMS 2FA is unavailable without it.'),
  TWILIO_AUTH_TOKEN: optionalString().describe('Twilio auth token.'),
  TWILIO_FROM_NUMBER: optionalString().describe('Sender number (E.164) for SMS codes.'),
  PASSKEY_RP_ID: optionalString().describe(
    'WebAuthn relying-party id: the registrable domain passkeys are bound to (e.g. erp.example.com); every PASSKEY_ORIGINS host must be it or a subdomain. Default: the host of the first passkey origin.',
  ),
  PASSKEY_RP_NAME: z.string().min(1).max(64).default('ERP').describe('Name authenticators show for this service.'),
  PASSKEY_ORIGINS: list('').describe(
    'Comma-separated frontend origins where passkey ceremonies may happen; each must also be in CORS_ORIGINS. Default: every CORS_ORIGINS entry. Empty: passkeys are unavailable (503).',
  ),
  PASSKEY_PASSWORDLESS_ROLES: list('').describe(
    'Comma-separated roles whose users may sign in with a passkey alone (discoverable credential, no password). Default: none; a passkey is then a second factor only.',
  ),
  PASSKEY_CHALLENGE_TTL_SECONDS: int(300, 30, 900).describe(
    'How long a passkey ceremony (its single-use challenge) stays valid.',
  ),
  BOOTSTRAP_ADMIN_EMAIL: optionalString().describe(
    'Creates the first admin at boot when no admin exists (refused otherwise); pair with BOOTSTRAP_ADMIN_PASSWORD, then remove both.',
  ),
  BOOTSTRAP_ADMIN_PASSWORD: optionalString().describe(
    'Password of the bootstrap admin (>= 12 characters, not a common password).',
  ),

  // --- alerts (docs/ALERTS.md)
  ALERT_ROUTES: optionalString().describe(
    'Routing table override, JSON array of {"severity","source"?,"channels":[email|sms|slack|dashboard],"recipients"?:{"email"?:[...],"sms"?:[...],"slack"?:[...]}}; unset: critical all channels, error email+slack+dashboard, warning slack+dashboard, info dashboard.',
  ),
  ALERT_EMAIL_TO: list('role:admin').describe(
    'Default alert e-mail recipients: addresses and/or role:<role> (every active user of that role).',
  ),
  ALERT_SMS_TO: list('role:admin').describe(
    'Default alert SMS recipients: E.164 numbers and/or role:<role> (every active user of that role with a verified phone).',
  ),
  ALERT_SLACK_WEBHOOKS: optionalString().describe(
    'Slack incoming webhooks as name=https://hooks.slack.com/...,other=...; every listed one gets Slack alerts unless a route names some.',
  ),
  ALERT_SMTP_URL: optionalString().describe('SMTP server for alert mail; defaults to SMTP_URL.'),
  ALERT_MAIL_FROM: optionalString().describe('From address of alert mail; defaults to MAIL_FROM.'),
  ALERT_CONSOLE_URL: z
    .string()
    .url()
    .default('http://localhost:3000/console/alerts')
    .describe('Base URL of the alert console; messages link to <this>/<alert id>.'),
  ALERT_DEDUP_WINDOW_SECONDS: int(900, 1, 604_800).describe(
    'A repeat of an open alert within this long after its last occurrence only counts; after a longer silence it notifies again.',
  ),
  ALERT_REPEAT_INTERVAL_SECONDS: int(3_600, 60, 604_800).describe(
    'While an alert stays open and keeps occurring, a reminder goes out at most this often.',
  ),
  ALERT_DELIVERY_POLL_MS: int(2_000, 50, 600_000).describe('How often the delivery worker looks for due messages.'),
  ALERT_DELIVERY_MAX_ATTEMPTS: int(6, 1, 50).describe('Attempts per message before it is marked failed.'),
  ALERT_DELIVERY_BACKOFF_MS: int(5_000, 10, 3_600_000).describe(
    'Delay before the first retry; doubles each attempt (with +-50% jitter).',
  ),
  ALERT_DELIVERY_BACKOFF_MAX_MS: int(600_000, 10, 86_400_000).describe('Longest delay between two attempts.'),
  ALERT_DELIVERY_CONCURRENCY: int(4, 1, 100).describe('Messages sent at once per channel (each channel separately).'),
  ALERT_EMAIL_TIMEOUT_MS: int(10_000, 100, 300_000).describe('Time one alert e-mail may take.'),
  ALERT_SMS_TIMEOUT_MS: int(10_000, 100, 300_000).describe('Time one alert SMS may take.'),
  ALERT_SLACK_TIMEOUT_MS: int(10_000, 100, 300_000).describe('Time one Slack webhook call may take.'),
  ALERT_BREAKER_THRESHOLD: int(5, 1, 1_000).describe(
    'Consecutive failures of a channel (per webhook for Slack) that open its circuit breaker.',
  ),
  ALERT_BREAKER_COOLDOWN_SECONDS: int(300, 1, 86_400).describe(
    'How long an open breaker holds deliveries back before one trial attempt.',
  ),
  ALERT_ERROR_RATE_THRESHOLD: int(20, 1, 1_000_000).describe(
    'Unexpected errors (HTTP 500) per minute in one process that raise an alert.',
  ),
  ALERT_RETENTION_DAYS: int(90, 1, 3_650).describe('Resolved alerts older than this are deleted (open ones never).'),
  ALERT_RETENTION_CRON: z
    .string()
    .min(9)
    .default('41 3 * * *')
    .describe('When old resolved alerts are deleted (cron, UTC).'),
});

export type Env = z.output<typeof envSchema>;

/** Example values for .env.example where the default alone would not show the format. */
export const ENV_EXAMPLES: Partial<Record<keyof Env, string>> = {
  MONGODB_URI: 'mongodb://127.0.0.1:27017/erp?retryWrites=true&w=majority',
  REDIS_URL: 'redis://127.0.0.1:6379',
  CORS_ORIGINS: 'https://erp.example.com,https://admin.erp.example.com',
  PASSKEY_RP_ID: 'erp.example.com',
  PASSKEY_ORIGINS: 'https://erp.example.com',
  JWT_SECRET: '',
  ENCRYPTION_KEYS: '',
  BLIND_INDEX_KEY: '',
  AUDIT_HMAC_KEYS: '',
  SMTP_URL: 'smtp://127.0.0.1:2525',
  TWILIO_FROM_NUMBER: '+15005550006',
  ALERT_SLACK_WEBHOOKS: 'ops=https://hooks.slack.com/services/T000/B000/XXXX',
  ALERT_ROUTES: '[{"severity":"critical","source":"security","channels":["email","sms","slack","dashboard"]}]',
};
