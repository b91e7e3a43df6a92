import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Secret } from '../lib/secret';
import { KEY_ID_PATTERN } from '../services/encryption/keyring';
import { envSchema, type Env } from './schema';
import { keyMaterialProblems, type KeyMaterialEntry } from './key-strength';
import { parseAlertRoutes, recipientProblems, type AlertRoute } from '../services/alerts/routing';
import { parseRedisConnection, type RedisConnectionConfig } from './redis-topology';
import { mongoConcernProblems } from './mongodb-concerns';

export { envSchema, type Env };

/** Warn and fail limits of one measurement (a value at or above a limit reaches it). */
export interface Limits {
  warn: number;
  fail: number;
}

export interface HealthThresholds {
  dbLatencyMs: Limits;
  redisLatencyMs: Limits;
  eventLoopDelayMs: Limits;
  memoryPercent: Limits;
  diskPercent: Limits;
  cpuLoadPerCore: Limits;
  backupAgeHours: Limits;
  failedLogins: Limits;
}

/** One HTTP dependency the health sampler probes. */
export interface HealthEndpoint {
  name: string;
  url: string;
  expectedStatus: number;
  timeoutMs: number;
  warnMs: number;
}

export interface KeyMaterial {
  id: string;
  key: Secret<Buffer>;
}

/** Slow-client guards of the HTTP server, in milliseconds. */
export interface HttpTimeouts {
  /** Until the request headers are complete. */
  headersMs: number;
  /** Until the whole request (headers and body) has arrived. */
  requestMs: number;
  /** An idle keep-alive connection between requests. */
  keepAliveMs: number;
}

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  http: {
    host: string;
    port: number;
    trustProxy: number | string[] | false;
    bodyLimit: string;
    maxHeaderBytes: number;
    /** Slow-client guards of the HTTP server (headers, whole request, idle keep-alive). */
    timeouts: HttpTimeouts;
    shutdownTimeoutMs: number;
  };
  log: { level: Env['LOG_LEVEL'] };
  /** The operations console's built files (index.html and hashed assets). */
  console: { dir: string };
  mongodb: {
    /** May carry credentials (Atlas): a Secret, so the config never prints it. */
    uri: Secret<string>;
    minPoolSize: number;
    maxPoolSize: number;
    serverSelectionTimeoutMS: number;
    socketTimeoutMS: number;
    /** 0: wait for a pooled connection as long as it takes. */
    waitQueueTimeoutMS: number;
    heartbeatFrequencyMS: number;
    monitorCommands: boolean;
    syncIndexesOnBoot: boolean;
  };
  /** `url` is the single-node address (REDIS_URL); `connection` says whether Sentinel or Cluster replaces it. */
  redis: { url: Secret<string>; keyPrefix: string; connection: RedisConnectionConfig };
  backups: {
    enabled: boolean;
    dir: string;
    dailyCron: string;
    weeklyCron: string;
    timezone: string;
    verifyAfter: boolean;
    keepDailyDays: number;
    keepWeeklyWeeks: number;
    missedGraceHours: number;
    encrypt: boolean;
    s3:
      | {
          bucket: string;
          prefix: string;
          region: string;
          endpoint: string | undefined;
          forcePathStyle: boolean;
          credentials: { accessKeyId: string; secretAccessKey: Secret<string> } | undefined;
          sse: 'none' | 'AES256' | 'aws:kms';
          kmsKeyId: string | undefined;
          objectLock: { days: number; mode: 'COMPLIANCE' | 'GOVERNANCE' } | undefined;
        }
      | undefined;
  };
  health: {
    timeoutMs: number;
    sampleIntervalMs: number;
    readyPingMinIntervalMs: number;
    thresholds: HealthThresholds;
    failedLoginWindowMinutes: number;
    diskPath: string | undefined;
    endpoints: HealthEndpoint[];
    alertAfterSamples: number;
    snapshotIntervalMs: number;
    historyRetentionDays: number;
    retentionCron: string;
  };
  /** /metrics on the app (token required) and optionally on an internal listener. */
  metrics: { token: Secret<string> | undefined; host: string; port: number | undefined };
  /** The live alert stream (SSE) of each process. */
  alertStream: { heartbeatMs: number; maxClients: number };
  cors: { origins: string[] };
  /** HS256 with a secret, or ES256 with a P-256 key pair (PEM). */
  jwt:
    | { algorithm: 'HS256'; secret: Secret<Buffer> }
    | { algorithm: 'ES256'; privateKeyPem: Secret<string>; publicKeyPem: string };
  encryption: { keys: KeyMaterial[]; activeKeyId: string; blindIndexKey: Secret<Buffer> };
  /** HMAC-SHA256 keys of the audit chain (entries and its external head), by id; one signs new entries. */
  audit: { hmacKeys: KeyMaterial[]; activeHmacKeyId: string };
  passwords: { bcryptCost: number; pepper: Secret<Buffer> | undefined; concurrency: number };
  apiKeys: { maxLifetimeDays: number };
  /** Segregation of duties on invoices (the creator never approves or pays; this decides for the approver). */
  invoices: { approverMayPay: boolean };
  auth: {
    issuer: string;
    audience: string;
    accessTtlSeconds: number;
    refreshTtlDays: number;
    mfaRequiredRoles: string[];
    totpIssuer: string;
    bootstrapAdmin: { email: string; password: Secret<string> } | undefined;
    retentionCron: string;
  };
  mail: { smtpUrl: Secret<string> | undefined; from: string };
  /** WebAuthn (docs/AUTHENTICATION.md, "Passkeys"): empty `origins` means passkeys are off. */
  passkeys: PasskeyConfig;
  edge: { hsts: boolean; hstsPreload: boolean; corsMaxAgeSeconds: number };
  rateLimits: {
    ipv6Subnet: number;
    tiers: Record<'general' | 'auth' | 'payment' | 'apiKey', { limit: number; windowMs: number; failOpen: boolean }>;
  };
  sms: { accountSid: string; authToken: Secret<string>; from: string } | undefined;
  alerts: AlertsConfig;
  /** Names of insecure development defaults in use (logged at boot; refused in production). */
  devDefaultsUsed: string[];
}

export interface PasskeyConfig {
  rpId: string;
  rpName: string;
  /** Exact origins ceremonies may come from: a subset of the CORS allow-list. */
  origins: string[];
  /** Roles that may sign in with a passkey alone. */
  passwordlessRoles: string[];
  challengeTtlSeconds: number;
}

/** The alert engine (docs/ALERTS.md). */
export interface AlertsConfig {
  /** Configured rows first, then the defaults: the first match wins. */
  routes: AlertRoute[];
  defaultRecipients: { email: string[]; sms: string[]; slack: string[] };
  /** Webhook URLs are credentials: Secrets. */
  slackWebhooks: Array<{ name: string; url: Secret<string> }>;
  smtpUrl: Secret<string> | undefined;
  mailFrom: string;
  consoleUrl: string;
  dedupWindowMs: number;
  repeatIntervalMs: number;
  pollMs: number;
  maxAttempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  concurrency: number;
  timeoutsMs: { email: number; sms: number; slack: number };
  breaker: { threshold: number; cooldownMs: number };
  errorRateThreshold: number;
  retentionDays: number;
  retentionCron: string;
}

function parseSlackWebhooks(raw: string | undefined, problems: string[]): Array<{ name: string; url: Secret<string> }> {
  const hooks: Array<{ name: string; url: Secret<string> }> = [];
  for (const entry of (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    const name = eq > 0 ? entry.slice(0, eq) : '';
    const url = entry.slice(eq + 1);
    if (!/^[a-z0-9_-]{1,32}$/i.test(name)) {
      problems.push(`ALERT_SLACK_WEBHOOKS: entry ${hooks.length + 1} must look like <name>=<https URL>`);
      continue;
    }
    let ok: boolean;
    try {
      const u = new URL(url);
      ok = u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      ok = false;
    }
    if (!ok) problems.push(`ALERT_SLACK_WEBHOOKS: "${name}" is not an http(s) URL`);
    else if (hooks.some((h) => h.name === name)) problems.push(`ALERT_SLACK_WEBHOOKS: "${name}" appears twice`);
    else hooks.push({ name, url: new Secret(url) });
  }
  return hooks;
}

/** Thrown with one line per problem; the server prints them and exits 1. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super('Invalid configuration:\n' + problems.map((p) => '  - ' + p).join('\n'));
    this.name = 'ConfigError';
  }
}

const MIN_SECRET_BYTES = 32;

/** Deterministic, clearly insecure values so development processes (and PM2 siblings) agree. Never used in production. */
function devSecret(name: string): Buffer {
  return createHash('sha256')
    .update('erp-backend insecure development default: ' + name)
    .digest();
}

function decodeBase64(value: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return undefined;
  return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/**
 * `id:base64,id:base64`: every key of `name` must decode to `bytes.exact` bytes, or at least
 * `bytes.min`; entries keep the base64 text they came from (for the reuse check).
 */
function parseKeyring(
  raw: string,
  problems: string[],
  name: 'ENCRYPTION_KEYS' | 'AUDIT_HMAC_KEYS' = 'ENCRYPTION_KEYS',
  bytes: { exact: number } | { min: number } = { exact: 32 },
): Array<KeyMaterial & { raw: string }> {
  const keys: Array<KeyMaterial & { raw: string }> = [];
  for (const entry of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    const key = sep > 0 ? decodeBase64(entry.slice(sep + 1)) : undefined;
    if (!KEY_ID_PATTERN.test(id)) {
      problems.push(
        `${name}: entry ${keys.length + 1} must look like <id>:<base64 key> with an id of 1-32 [A-Za-z0-9_-]`,
      );
    } else if (!key || ('exact' in bytes ? key.length !== bytes.exact : key.length < bytes.min)) {
      problems.push(
        `${name}: key "${id}" must decode from base64 to ${'exact' in bytes ? `exactly ${bytes.exact}` : `at least ${bytes.min}`} bytes (got ${key?.length ?? 0})`,
      );
    } else if (keys.some((k) => k.id === id)) {
      problems.push(`${name}: key id "${id}" appears twice`);
    } else {
      keys.push({ id, key: new Secret(key), raw: entry.slice(sep + 1) });
    }
  }
  return keys;
}

function isExactOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === origin;
  } catch {
    return false;
  }
}

function parseTrustProxy(raw: string, problems: string[]): number | string[] | false {
  const v = raw.trim();
  if (v === 'true') {
    problems.push(
      "TRUST_PROXY: 'true' trusts any X-Forwarded-For a client sends; set the proxy hop count (e.g. 1) or its addresses",
    );
    return false;
  }
  if (v === 'false' || v === '') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Parses the environment once into a frozen, typed Config. Only this module reads
 * process.env. Throws ConfigError listing every problem (not just the first).
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const env = parsed.data;
  const isProduction = env.NODE_ENV === 'production';
  const problems: string[] = [];
  const devDefaultsUsed: string[] = [];

  const requireInProduction = (name: keyof Env, value: unknown, why: string): void => {
    if (isProduction && (value === undefined || value === ''))
      problems.push(`${name}: required in production (${why})`);
  };
  requireInProduction('MONGODB_URI', env.MONGODB_URI, 'no local database is assumed');
  problems.push(...mongoConcernProblems(env.MONGODB_URI));
  const redisConnection = parseRedisConnection(env, problems);
  if (redisConnection.kind === 'single')
    requireInProduction(
      'REDIS_URL',
      env.REDIS_URL,
      'rate limits, sessions and lockouts must be shared by all processes (or set REDIS_SENTINELS / REDIS_CLUSTER_NODES)',
    );
  if (env.JWT_ALGORITHM === 'HS256')
    requireInProduction('JWT_SECRET', env.JWT_SECRET, 'access tokens must be signed with a secret only you know');
  requireInProduction('ENCRYPTION_KEYS', env.ENCRYPTION_KEYS, 'personal data is encrypted at rest');
  requireInProduction('BLIND_INDEX_KEY', env.BLIND_INDEX_KEY, 'encrypted fields are looked up by HMAC');

  let jwtSecret: Buffer = Buffer.alloc(0);
  let jwtPems: { privateKeyPem: string; publicKeyPem: string } | undefined;
  if (env.JWT_ALGORITHM === 'ES256') {
    const pem = (v: string | undefined): string | undefined => v?.replace(/\\n/g, '\n');
    const priv = pem(env.JWT_PRIVATE_KEY);
    const pub = pem(env.JWT_PUBLIC_KEY);
    if (!priv || !pub) problems.push('JWT_PRIVATE_KEY and JWT_PUBLIC_KEY: both are required with JWT_ALGORITHM=ES256');
    else {
      try {
        const key = createPrivateKey(priv);
        const pubKey = createPublicKey(pub);
        if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
          problems.push('JWT_PRIVATE_KEY: must be a P-256 (prime256v1) EC key for ES256');
        else if (
          createPublicKey(key)
            .export({ format: 'der', type: 'spki' })
            .compare(pubKey.export({ format: 'der', type: 'spki' })) !== 0
        )
          problems.push('JWT_PUBLIC_KEY: does not match JWT_PRIVATE_KEY');
        else jwtPems = { privateKeyPem: priv, publicKeyPem: pub };
      } catch {
        problems.push('JWT_PRIVATE_KEY / JWT_PUBLIC_KEY: not valid PEM keys');
      }
    }
  } else if (env.JWT_SECRET !== undefined) {
    jwtSecret = Buffer.from(env.JWT_SECRET, 'utf8');
    if (jwtSecret.length < MIN_SECRET_BYTES)
      problems.push(`JWT_SECRET: must be at least ${MIN_SECRET_BYTES} bytes (got ${jwtSecret.length})`);
  } else {
    jwtSecret = devSecret('JWT_SECRET');
    devDefaultsUsed.push('JWT_SECRET');
  }

  let keys: KeyMaterial[];
  const material: KeyMaterialEntry[] = [];
  if (jwtSecret.length >= MIN_SECRET_BYTES && env.JWT_SECRET !== undefined)
    material.push({ label: 'JWT_SECRET', variable: 'JWT_SECRET', kind: 'text', bytes: jwtSecret, raw: env.JWT_SECRET });
  if (env.ENCRYPTION_KEYS !== undefined) {
    const parsed = parseKeyring(env.ENCRYPTION_KEYS, problems);
    for (const k of parsed)
      material.push({
        label: `ENCRYPTION_KEYS key "${k.id}"`,
        variable: 'ENCRYPTION_KEYS',
        kind: 'binary',
        bytes: k.key.reveal(),
        raw: k.raw,
      });
    keys = parsed.map(({ id, key }) => ({ id, key }));
    if (keys.length === 0 && !problems.some((p) => p.startsWith('ENCRYPTION_KEYS')))
      problems.push('ENCRYPTION_KEYS: no keys given');
  } else {
    keys = [{ id: 'dev1', key: new Secret(devSecret('ENCRYPTION_KEYS')) }];
    devDefaultsUsed.push('ENCRYPTION_KEYS');
  }
  const activeKeyId = env.ENCRYPTION_ACTIVE_KEY_ID ?? keys[keys.length - 1]?.id ?? '';
  if (keys.length > 0 && !keys.some((k) => k.id === activeKeyId)) {
    problems.push(`ENCRYPTION_ACTIVE_KEY_ID: "${activeKeyId}" is not one of the ENCRYPTION_KEYS ids`);
  }

  requireInProduction(
    'AUDIT_HMAC_KEYS',
    env.AUDIT_HMAC_KEYS,
    'the audit chain is keyed so that database access alone cannot rewrite it',
  );
  let auditKeys: KeyMaterial[];
  if (env.AUDIT_HMAC_KEYS !== undefined) {
    const parsed = parseKeyring(env.AUDIT_HMAC_KEYS, problems, 'AUDIT_HMAC_KEYS', { min: MIN_SECRET_BYTES });
    for (const k of parsed)
      material.push({
        label: `AUDIT_HMAC_KEYS key "${k.id}"`,
        variable: 'AUDIT_HMAC_KEYS',
        kind: 'binary',
        bytes: k.key.reveal(),
        raw: k.raw,
      });
    auditKeys = parsed.map(({ id, key }) => ({ id, key }));
    if (auditKeys.length === 0 && !problems.some((p) => p.startsWith('AUDIT_HMAC_KEYS')))
      problems.push('AUDIT_HMAC_KEYS: no keys given');
  } else {
    auditKeys = [{ id: 'dev1', key: new Secret(devSecret('AUDIT_HMAC_KEYS')) }];
    devDefaultsUsed.push('AUDIT_HMAC_KEYS');
  }
  const auditActiveKeyId = env.AUDIT_HMAC_ACTIVE_KEY_ID ?? auditKeys[auditKeys.length - 1]?.id ?? '';
  if (auditKeys.length > 0 && !auditKeys.some((k) => k.id === auditActiveKeyId)) {
    problems.push(`AUDIT_HMAC_ACTIVE_KEY_ID: "${auditActiveKeyId}" is not one of the AUDIT_HMAC_KEYS ids`);
  }

  let blindIndexKey: Buffer;
  if (env.BLIND_INDEX_KEY !== undefined) {
    const decoded = decodeBase64(env.BLIND_INDEX_KEY);
    blindIndexKey = decoded ?? Buffer.alloc(0);
    if (!decoded || decoded.length < MIN_SECRET_BYTES) {
      problems.push(
        `BLIND_INDEX_KEY: must be base64 of at least ${MIN_SECRET_BYTES} bytes (got ${decoded?.length ?? 0})`,
      );
    } else {
      material.push({
        label: 'BLIND_INDEX_KEY',
        variable: 'BLIND_INDEX_KEY',
        kind: 'binary',
        bytes: decoded,
        raw: env.BLIND_INDEX_KEY,
      });
    }
  } else {
    blindIndexKey = devSecret('BLIND_INDEX_KEY');
    devDefaultsUsed.push('BLIND_INDEX_KEY');
  }

  const pepper = env.PASSWORD_PEPPER === undefined ? undefined : Buffer.from(env.PASSWORD_PEPPER, 'utf8');
  if (pepper && pepper.length < MIN_SECRET_BYTES)
    problems.push(`PASSWORD_PEPPER: must be at least ${MIN_SECRET_BYTES} bytes when set (got ${pepper.length})`);
  else if (pepper && env.PASSWORD_PEPPER !== undefined)
    material.push({
      label: 'PASSWORD_PEPPER',
      variable: 'PASSWORD_PEPPER',
      kind: 'text',
      bytes: pepper,
      raw: env.PASSWORD_PEPPER,
    });
  // Outside production, tests and local runs may use fixed keys; production gets a floor under them.
  if (isProduction) problems.push(...keyMaterialProblems(material));

  requireInProduction('SMTP_URL', env.SMTP_URL, 'one-time codes and security notices are sent by mail');
  const twilio = [env.TWILIO_ACCOUNT_SID, env.TWILIO_AUTH_TOKEN, env.TWILIO_FROM_NUMBER];
  if (twilio.some((v) => v !== undefined) && twilio.some((v) => v === undefined)) {
    problems.push('TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER: set all three or none');
  }
  if ((env.BOOTSTRAP_ADMIN_EMAIL === undefined) !== (env.BOOTSTRAP_ADMIN_PASSWORD === undefined)) {
    problems.push('BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD: set both or neither');
  }

  const slackWebhooks = parseSlackWebhooks(env.ALERT_SLACK_WEBHOOKS, problems);
  const webhookNames = slackWebhooks.map((h) => h.name);
  const alertRoutes = parseAlertRoutes(env.ALERT_ROUTES, webhookNames);
  problems.push(...alertRoutes.problems);
  problems.push(...recipientProblems('email', env.ALERT_EMAIL_TO, webhookNames).map((p) => `ALERT_EMAIL_TO: ${p}`));
  problems.push(...recipientProblems('sms', env.ALERT_SMS_TO, webhookNames).map((p) => `ALERT_SMS_TO: ${p}`));
  if (env.ALERT_DELIVERY_BACKOFF_MS > env.ALERT_DELIVERY_BACKOFF_MAX_MS)
    problems.push('ALERT_DELIVERY_BACKOFF_MS: must not exceed ALERT_DELIVERY_BACKOFF_MAX_MS');

  const trustProxy = parseTrustProxy(env.TRUST_PROXY, problems);
  if (env.MONGODB_MIN_POOL_SIZE > env.MONGODB_MAX_POOL_SIZE) {
    problems.push('MONGODB_MIN_POOL_SIZE: must not exceed MONGODB_MAX_POOL_SIZE');
  }
  for (const origin of env.CORS_ORIGINS) {
    if (!isExactOrigin(origin))
      problems.push(
        `CORS_ORIGINS: "${origin}" is not an exact origin like https://erp.example.com ('*', 'null', paths and trailing slashes are refused)`,
      );
  }

  const healthEndpoints = parseHealthEndpoints(env.HEALTH_ENDPOINTS, problems);
  const passkeys = parsePasskeys(env, problems);

  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    env: env.NODE_ENV,
    isProduction,
    http: {
      host: env.HOST,
      port: env.PORT,
      trustProxy,
      bodyLimit: env.BODY_LIMIT,
      maxHeaderBytes: env.HTTP_MAX_HEADER_BYTES,
      timeouts: {
        headersMs: env.HTTP_HEADERS_TIMEOUT_MS,
        requestMs: env.HTTP_REQUEST_TIMEOUT_MS,
        keepAliveMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      },
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    },
    log: { level: env.LOG_LEVEL },
    console: { dir: env.CONSOLE_DIR },
    mongodb: {
      uri: new Secret(env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/erp'),
      minPoolSize: env.MONGODB_MIN_POOL_SIZE,
      maxPoolSize: env.MONGODB_MAX_POOL_SIZE,
      serverSelectionTimeoutMS: env.MONGODB_SERVER_SELECTION_TIMEOUT_MS,
      socketTimeoutMS: env.MONGODB_SOCKET_TIMEOUT_MS,
      waitQueueTimeoutMS: env.MONGODB_WAIT_QUEUE_TIMEOUT_MS,
      heartbeatFrequencyMS: env.MONGODB_HEARTBEAT_FREQUENCY_MS,
      monitorCommands: env.MONGODB_MONITOR_COMMANDS,
      syncIndexesOnBoot: env.MONGODB_SYNC_INDEXES_ON_BOOT,
    },
    redis: {
      url: new Secret(env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
      keyPrefix: env.REDIS_KEY_PREFIX,
      connection: redisConnection,
    },
    backups: {
      enabled: env.BACKUP_ENABLED,
      dir: env.BACKUP_DIR,
      dailyCron: env.BACKUP_DAILY_CRON,
      weeklyCron: env.BACKUP_WEEKLY_CRON,
      timezone: env.BACKUP_TIMEZONE,
      verifyAfter: env.BACKUP_VERIFY_AFTER,
      keepDailyDays: env.BACKUP_KEEP_DAILY_DAYS,
      keepWeeklyWeeks: env.BACKUP_KEEP_WEEKLY_WEEKS,
      missedGraceHours: env.BACKUP_MISSED_GRACE_HOURS,
      encrypt: env.BACKUP_ENCRYPT === undefined ? isProduction : ['true', '1', 'yes'].includes(env.BACKUP_ENCRYPT),
      s3: env.BACKUP_S3_BUCKET
        ? {
            bucket: env.BACKUP_S3_BUCKET,
            prefix: env.BACKUP_S3_PREFIX,
            region: env.BACKUP_S3_REGION,
            endpoint: env.BACKUP_S3_ENDPOINT,
            forcePathStyle: env.BACKUP_S3_FORCE_PATH_STYLE,
            credentials:
              env.BACKUP_S3_ACCESS_KEY_ID && env.BACKUP_S3_SECRET_ACCESS_KEY
                ? {
                    accessKeyId: env.BACKUP_S3_ACCESS_KEY_ID,
                    secretAccessKey: new Secret(env.BACKUP_S3_SECRET_ACCESS_KEY),
                  }
                : undefined,
            sse: env.BACKUP_S3_SSE,
            kmsKeyId: env.BACKUP_S3_KMS_KEY_ID,
            objectLock:
              env.BACKUP_S3_OBJECT_LOCK_DAYS > 0
                ? { days: env.BACKUP_S3_OBJECT_LOCK_DAYS, mode: env.BACKUP_S3_OBJECT_LOCK_MODE }
                : undefined,
          }
        : undefined,
    },
    health: {
      timeoutMs: env.HEALTH_CHECK_TIMEOUT_MS,
      sampleIntervalMs: env.HEALTH_SAMPLE_INTERVAL_MS,
      readyPingMinIntervalMs: env.HEALTH_READY_PING_MIN_INTERVAL_MS,
      thresholds: {
        dbLatencyMs: env.HEALTH_DB_LATENCY_MS,
        redisLatencyMs: env.HEALTH_REDIS_LATENCY_MS,
        eventLoopDelayMs: env.HEALTH_EVENT_LOOP_DELAY_MS,
        memoryPercent: env.HEALTH_MEMORY_PERCENT,
        diskPercent: env.HEALTH_DISK_PERCENT,
        cpuLoadPerCore: env.HEALTH_CPU_LOAD_PER_CORE,
        backupAgeHours: env.HEALTH_BACKUP_AGE_HOURS,
        failedLogins: env.HEALTH_FAILED_LOGINS,
      },
      failedLoginWindowMinutes: env.HEALTH_FAILED_LOGIN_WINDOW_MINUTES,
      diskPath: env.HEALTH_DISK_PATH,
      endpoints: healthEndpoints,
      alertAfterSamples: env.HEALTH_ALERT_AFTER_SAMPLES,
      snapshotIntervalMs: env.HEALTH_SNAPSHOT_INTERVAL_MS,
      historyRetentionDays: env.HEALTH_HISTORY_RETENTION_DAYS,
      retentionCron: env.HEALTH_RETENTION_CRON,
    },
    metrics: {
      token: env.METRICS_TOKEN === undefined ? undefined : new Secret(env.METRICS_TOKEN),
      host: env.METRICS_HOST,
      port: env.METRICS_PORT,
    },
    alertStream: { heartbeatMs: env.ALERT_STREAM_HEARTBEAT_MS, maxClients: env.ALERT_STREAM_MAX_CLIENTS },
    cors: { origins: env.CORS_ORIGINS },
    jwt: jwtPems
      ? { algorithm: 'ES256', privateKeyPem: new Secret(jwtPems.privateKeyPem), publicKeyPem: jwtPems.publicKeyPem }
      : { algorithm: 'HS256', secret: new Secret(jwtSecret) },
    encryption: { keys, activeKeyId, blindIndexKey: new Secret(blindIndexKey) },
    audit: { hmacKeys: auditKeys, activeHmacKeyId: auditActiveKeyId },
    passwords: {
      bcryptCost: env.BCRYPT_COST,
      pepper: pepper === undefined ? undefined : new Secret(pepper),
      concurrency: env.BCRYPT_CONCURRENCY ?? Math.max(1, availableParallelism() - 1),
    },
    apiKeys: { maxLifetimeDays: env.API_KEY_MAX_LIFETIME_DAYS },
    invoices: { approverMayPay: env.INVOICE_APPROVER_MAY_PAY },
    auth: {
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTtlSeconds: env.JWT_ACCESS_TTL_SECONDS,
      refreshTtlDays: env.REFRESH_TTL_DAYS,
      mfaRequiredRoles: (env.MFA_REQUIRED_ROLES ?? (isProduction ? 'admin,manager' : ''))
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
      totpIssuer: env.TOTP_ISSUER,
      bootstrapAdmin:
        env.BOOTSTRAP_ADMIN_EMAIL && env.BOOTSTRAP_ADMIN_PASSWORD
          ? { email: env.BOOTSTRAP_ADMIN_EMAIL, password: new Secret(env.BOOTSTRAP_ADMIN_PASSWORD) }
          : undefined,
      retentionCron: env.AUTH_RETENTION_CRON,
    },
    mail: { smtpUrl: env.SMTP_URL === undefined ? undefined : new Secret(env.SMTP_URL), from: env.MAIL_FROM },
    passkeys,
    edge: {
      hsts: env.HSTS_ENABLED === undefined ? isProduction : ['true', '1', 'yes'].includes(env.HSTS_ENABLED),
      hstsPreload: env.HSTS_PRELOAD,
      corsMaxAgeSeconds: env.CORS_MAX_AGE_SECONDS,
    },
    rateLimits: {
      ipv6Subnet: env.RATE_LIMIT_IPV6_SUBNET,
      tiers: {
        general: { ...env.RATE_LIMIT_GENERAL, failOpen: env.RATE_LIMIT_GENERAL_FAIL_OPEN },
        auth: { ...env.RATE_LIMIT_AUTH, failOpen: env.RATE_LIMIT_AUTH_FAIL_OPEN },
        payment: { ...env.RATE_LIMIT_PAYMENT, failOpen: false },
        apiKey: { ...env.RATE_LIMIT_API_KEY, failOpen: true },
      },
    },
    sms:
      env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN && env.TWILIO_FROM_NUMBER
        ? {
            accountSid: env.TWILIO_ACCOUNT_SID,
            authToken: new Secret(env.TWILIO_AUTH_TOKEN),
            from: env.TWILIO_FROM_NUMBER,
          }
        : undefined,
    alerts: {
      routes: alertRoutes.routes,
      defaultRecipients: { email: env.ALERT_EMAIL_TO, sms: env.ALERT_SMS_TO, slack: webhookNames },
      slackWebhooks,
      smtpUrl:
        env.ALERT_SMTP_URL !== undefined
          ? new Secret(env.ALERT_SMTP_URL)
          : env.SMTP_URL !== undefined
            ? new Secret(env.SMTP_URL)
            : undefined,
      mailFrom: env.ALERT_MAIL_FROM ?? env.MAIL_FROM,
      consoleUrl: env.ALERT_CONSOLE_URL.replace(/\/+$/, ''),
      dedupWindowMs: env.ALERT_DEDUP_WINDOW_SECONDS * 1000,
      repeatIntervalMs: env.ALERT_REPEAT_INTERVAL_SECONDS * 1000,
      pollMs: env.ALERT_DELIVERY_POLL_MS,
      maxAttempts: env.ALERT_DELIVERY_MAX_ATTEMPTS,
      backoffMs: env.ALERT_DELIVERY_BACKOFF_MS,
      backoffMaxMs: env.ALERT_DELIVERY_BACKOFF_MAX_MS,
      concurrency: env.ALERT_DELIVERY_CONCURRENCY,
      timeoutsMs: {
        email: env.ALERT_EMAIL_TIMEOUT_MS,
        sms: env.ALERT_SMS_TIMEOUT_MS,
        slack: env.ALERT_SLACK_TIMEOUT_MS,
      },
      breaker: { threshold: env.ALERT_BREAKER_THRESHOLD, cooldownMs: env.ALERT_BREAKER_COOLDOWN_SECONDS * 1000 },
      errorRateThreshold: env.ALERT_ERROR_RATE_THRESHOLD,
      retentionDays: env.ALERT_RETENTION_DAYS,
      retentionCron: env.ALERT_RETENTION_CRON,
    },
    devDefaultsUsed,
  };
  return deepFreeze(config);
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object' && !Buffer.isBuffer(obj)) {
    for (const v of Object.values(obj)) deepFreeze(v);
    Object.freeze(obj);
  }
  return obj;
}

/**
 * Passkey origins must be frontends the CORS allow-list already admits (a ceremony from any
 * other page could never call the API), and WebAuthn binds credentials to an RP id that
 * each origin's host must equal or be a subdomain of.
 */
function parsePasskeys(env: Env, problems: string[]): PasskeyConfig {
  const explicit = env.PASSKEY_ORIGINS.length > 0;
  for (const origin of env.PASSKEY_ORIGINS)
    if (!env.CORS_ORIGINS.includes(origin))
      problems.push(`PASSKEY_ORIGINS: "${origin}" is not in CORS_ORIGINS (passkey origins must be allowed frontends)`);
  const candidates = (explicit ? env.PASSKEY_ORIGINS : env.CORS_ORIGINS).filter(isExactOrigin);
  const rpId = (env.PASSKEY_RP_ID ?? (candidates[0] ? new URL(candidates[0]).hostname : 'localhost')).toLowerCase();
  if (!/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(rpId))
    problems.push(`PASSKEY_RP_ID: "${rpId}" must be a domain name without scheme, port or path`);
  else if (/^\d+(\.\d+){3}$/.test(rpId)) problems.push('PASSKEY_RP_ID: an IP address cannot be a WebAuthn RP id');
  const fits = (origin: string): boolean => {
    const host = new URL(origin).hostname;
    return host === rpId || host.endsWith(`.${rpId}`);
  };
  if (explicit) {
    for (const origin of candidates.filter((o) => !fits(o)))
      problems.push(`PASSKEY_ORIGINS: the host of "${origin}" is neither "${rpId}" nor a subdomain of it`);
  }
  return {
    rpId,
    rpName: env.PASSKEY_RP_NAME,
    // By default every allowed frontend under the RP id; others could not use its credentials anyway.
    origins: candidates.filter(fits),
    passwordlessRoles: env.PASSKEY_PASSWORDLESS_ROLES,
    challengeTtlSeconds: env.PASSKEY_CHALLENGE_TTL_SECONDS,
  };
}

/** HEALTH_ENDPOINTS: `name=url[|expectedStatus[|timeoutMs[|warnMs]]]`, comma-separated. */
export function parseHealthEndpoints(raw: string | undefined, problems: string[]): HealthEndpoint[] {
  if (!raw) return [];
  const out: HealthEndpoint[] = [];
  for (const entry of raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const m = /^([a-z0-9][a-z0-9_-]{0,40})=([^|\s]+)(?:\|(\d{3}))?(?:\|(\d{2,6}))?(?:\|(\d{1,6}))?$/i.exec(entry);
    let url: URL | undefined;
    try {
      url = m ? new URL(m[2]) : undefined;
    } catch {
      url = undefined;
    }
    if (!m || !url || !/^https?:$/.test(url.protocol)) {
      problems.push(
        `HEALTH_ENDPOINTS: "${entry}" must look like name=http(s)://host/path[|status[|timeoutMs[|warnMs]]]`,
      );
      continue;
    }
    const timeoutMs = m[4] ? Number(m[4]) : 5_000;
    const warnMs = m[5] ? Number(m[5]) : Math.floor(timeoutMs / 2);
    if (warnMs > timeoutMs) problems.push(`HEALTH_ENDPOINTS: "${m[1]}" warns after its timeout`);
    if (out.some((e) => e.name === m[1])) problems.push(`HEALTH_ENDPOINTS: "${m[1]}" is named twice`);
    out.push({ name: m[1], url: url.toString(), expectedStatus: m[3] ? Number(m[3]) : 200, timeoutMs, warnMs });
  }
  return out;
}
