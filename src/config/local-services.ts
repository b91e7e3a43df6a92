import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * `npm run dev` (scripts/local-services-cli.ts) records here which MongoDB and Redis it
 * chose, so a second terminal's `npm run cli` talks to the same servers. Relative paths are
 * resolved against the repository root (the same from src/ under tsx and from dist/).
 */
export const DEFAULT_LOCAL_SERVICES_FILE = '.data/local-services.json'; // also the schema's default of LOCAL_SERVICES_FILE
const ROOT = path.resolve(__dirname, '..', '..');

export interface LocalServicesRecord {
  mongodbUri: string;
  redisUrl: string;
}

export interface ResolvedServices {
  /** The environment with MONGODB_URI / REDIS_URL filled in from the record where they were unset. */
  env: NodeJS.ProcessEnv;
  /** Where each URL came from, for error messages. */
  origin: { mongodb: string; redis: string };
  /** Variables still unset outside production (no record, or a record without them). */
  missing: Array<'MONGODB_URI' | 'REDIS_URL'>;
  /** The record file that was consulted, relative to the working directory when inside it. */
  file: string;
}

export function localServicesFile(source: NodeJS.ProcessEnv): string {
  const configured = source.LOCAL_SERVICES_FILE?.trim() || DEFAULT_LOCAL_SERVICES_FILE;
  return path.resolve(ROOT, configured);
}

function readRecord(file: string): Partial<LocalServicesRecord> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return {
      mongodbUri: typeof parsed.mongodbUri === 'string' ? parsed.mongodbUri : undefined,
      redisUrl: typeof parsed.redisUrl === 'string' ? parsed.redisUrl : undefined,
    };
  } catch {
    // Absent or unreadable: as if npm run dev never ran.
    return {};
  }
}

/**
 * Outside production, fills unset MONGODB_URI / REDIS_URL from the record of `npm run dev`.
 * Production never reads the file: its servers are always configured explicitly.
 */
export function withLocalServices(source: NodeJS.ProcessEnv): ResolvedServices {
  const absolute = localServicesFile(source);
  const relative = path.relative(process.cwd(), absolute);
  const file = relative && !relative.startsWith('..') ? relative : absolute;
  const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';
  const env = { ...source };
  const origin = { mongodb: 'MONGODB_URI', redis: 'REDIS_URL' };
  if (source.NODE_ENV === 'production' || (set(source.MONGODB_URI) && set(source.REDIS_URL)))
    return { env, origin, missing: [], file };

  const record = readRecord(absolute);
  const recorded = `${file}, written by npm run dev`;
  if (!set(env.MONGODB_URI) && set(record.mongodbUri)) {
    env.MONGODB_URI = record.mongodbUri;
    origin.mongodb = recorded;
  }
  // Sentinel or Cluster replaces REDIS_URL: filling it in would be refused as a second Redis.
  const redisTopologySet = set(env.REDIS_SENTINELS) || set(env.REDIS_CLUSTER_NODES);
  if (!set(env.REDIS_URL) && !redisTopologySet && set(record.redisUrl)) {
    env.REDIS_URL = record.redisUrl;
    origin.redis = recorded;
  }
  const missing = (['MONGODB_URI', 'REDIS_URL'] as const).filter(
    (name) => !set(env[name]) && !(name === 'REDIS_URL' && redisTopologySet),
  );
  return { env, origin, missing, file };
}
