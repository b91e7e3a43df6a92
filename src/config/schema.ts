import { z } from 'zod';
import { BASE_ROLES, isBaseRole } from '../services/access/policy';

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
  BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i)
    .default('100kb')
    .describe('Largest accepted JSON body; larger bodies get 413.'),

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
  MONGODB_HEARTBEAT_FREQUENCY_MS: int(10_000, 500, 120_000).describe('Server monitoring heartbeat interval.'),
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
  BOOTSTRAP_ADMIN_EMAIL: optionalString().describe(
    'Creates the first admin at boot when no admin exists (refused otherwise); pair with BOOTSTRAP_ADMIN_PASSWORD, then remove both.',
  ),
  BOOTSTRAP_ADMIN_PASSWORD: optionalString().describe(
    'Password of the bootstrap admin (>= 12 characters, not a common password).',
  ),
});

export type Env = z.output<typeof envSchema>;

/** Example values for .env.example where the default alone would not show the format. */
export const ENV_EXAMPLES: Partial<Record<keyof Env, string>> = {
  MONGODB_URI: 'mongodb://127.0.0.1:27017/erp?retryWrites=true&w=majority',
  REDIS_URL: 'redis://127.0.0.1:6379',
  CORS_ORIGINS: 'https://erp.example.com,https://admin.erp.example.com',
  JWT_SECRET: '',
  ENCRYPTION_KEYS: '',
  BLIND_INDEX_KEY: '',
  AUDIT_HMAC_KEYS: '',
  SMTP_URL: 'smtp://127.0.0.1:2525',
  TWILIO_FROM_NUMBER: '+15005550006',
};
