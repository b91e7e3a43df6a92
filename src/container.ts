import type { Config } from './config';
import type { Logger } from './lib/logger';
import { Database } from './lib/database';
import { createRedis, type RedisClient } from './lib/redis';
import { HealthCheckService } from './services/HealthCheckService';
import { Scheduler } from './jobs/scheduler';
import { registerModels, type Models } from './models';
import { AuditTrail } from './services/audit/AuditTrail';
import { EncryptionService } from './services/EncryptionService';
import { StaticKeyProvider } from './services/encryption/keyring';
import { PasswordHasher } from './services/encryption/password-hasher';
import { EncryptedFieldRegistry } from './services/encryption/field-encryption.plugin';
import { KeyRotation } from './services/encryption/key-rotation';
import { ApiKeyService } from './services/api-keys/ApiKeyService';
import { effectiveGrants } from './middleware/rbac';
import type { AppDeps } from './app';
import { VERSION } from './lib/version';

export interface Container {
  deps: AppDeps;
  database: Database;
  redis: RedisClient;
  models: Models;
  scheduler: Scheduler;
  /** Connects to the datastores and prepares indexes. */
  start(): Promise<void>;
  /** Stops jobs, then closes Redis and MongoDB (reverse boot order). */
  stop(): Promise<void>;
}

/**
 * The composition root: the only place that creates the MongoDB and Redis clients, the
 * services and the scheduler, in boot order. Tests call it with their own config.
 */
export function createContainer(config: Config, logger: Logger, opts: { now?: () => Date } = {}): Container {
  const database = new Database(
    {
      uri: config.mongodb.uri,
      minPoolSize: config.mongodb.minPoolSize,
      maxPoolSize: config.mongodb.maxPoolSize,
      serverSelectionTimeoutMS: config.mongodb.serverSelectionTimeoutMS,
      socketTimeoutMS: config.mongodb.socketTimeoutMS,
      heartbeatFrequencyMS: config.mongodb.heartbeatFrequencyMS,
      autoIndex: !config.isProduction,
    },
    logger,
  );
  const redis = createRedis(
    { url: config.redis.url, allowInProcessFallback: !config.isProduction, logger },
    { keyPrefix: config.redis.keyPrefix },
  );
  const encryption = new EncryptionService({
    keyProvider: new StaticKeyProvider(config.encryption.keys, config.encryption.activeKeyId),
    blindIndexKey: config.encryption.blindIndexKey,
    passwords: new PasswordHasher(config.passwords.bcryptCost, config.passwords.pepper),
    logger,
  });
  const encryptedFields = new EncryptedFieldRegistry();
  const models = registerModels(database.connection, { cipher: encryption, registry: encryptedFields });
  const audit = new AuditTrail({ events: models.AuditEvent, counters: models.AuditCounter, logger, now: opts.now });
  const keyRotation = new KeyRotation({ db: () => database.db(), cipher: encryption, registry: encryptedFields, logger, audit, now: opts.now });
  const apiKeys = new ApiKeyService({
    keys: models.ApiKey,
    audit,
    secret: config.encryption.blindIndexKey,
    grantsOf: effectiveGrants,
    maxLifetimeDays: config.apiKeys.maxLifetimeDays,
    now: opts.now,
  });
  const health = new HealthCheckService({ database, redis, timeoutMs: config.health.timeoutMs, version: VERSION, now: opts.now });
  const scheduler = new Scheduler([], logger);

  return {
    deps: { config, logger, health, audit, encryption, apiKeys, keyRotation },
    database,
    redis,
    models,
    scheduler,
    async start() {
      if (config.devDefaultsUsed.length) {
        logger.warn({ keys: config.devDefaultsUsed }, 'using insecure development defaults (refused in production)');
      }
      await encryption.init();
      await database.connect();
      if (config.mongodb.syncIndexesOnBoot) await database.syncIndexes();
      scheduler.start();
    },
    async stop() {
      await scheduler.stop();
      redis.disconnect();
      await database.close();
    },
  };
}
