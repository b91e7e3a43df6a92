/**
 * Ensures the local MongoDB-wire server and Redis for `npm run dev`, leaves them running
 * in the background, reports on stderr what it uses, records the URLs for `npm run cli`
 * (.data/local-services.json, or LOCAL_SERVICES_FILE) and prints shell `export` lines.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { localServicesFile, type LocalServicesRecord } from '../src/config/local-services';
import { ensureMongo, ensureRedis } from './local-services';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  const mongo = await ensureMongo(process.env, {
    dataDir: path.join(root, '.data/dev'),
    port: 27018,
    detached: true,
    reuseOwn: true,
  });
  const redis = await ensureRedis(process.env, { detached: true });
  let mongoUri = mongo.url;
  if (!process.env.MONGODB_URI) mongoUri = mongo.url.replace(/\/$/, '') + '/erp';
  console.error(`local services: MongoDB -> ${mongo.description}`);
  console.error(`local services: Redis   -> ${redis.description}`);
  const file = localServicesFile(process.env);
  const record: LocalServicesRecord = { mongodbUri: mongoUri, redisUrl: redis.url };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  console.log(`export MONGODB_URI='${mongoUri}'`);
  console.log(`export REDIS_URL='${redis.url}'`);
}

main().catch((err: unknown) => {
  console.error('local services failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
