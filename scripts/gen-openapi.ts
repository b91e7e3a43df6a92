/**
 * Writes docs/openapi.json, the OpenAPI 3.1 document generated from the app's routes and
 * their zod schemas (src/lib/openapi.ts). `--check` exits 1 when the committed file is out of
 * date (scripts/test.sh runs it). The app is built with test configuration and never
 * listens or needs its databases: only the router is read.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import prettier from 'prettier';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/lib/logger';
import { createContainer } from '../src/container';
import { createApp } from '../src/app';
import { buildOpenApiDocument } from '../src/lib/openapi';
import { VERSION } from '../src/lib/version';

const OUT = path.resolve(__dirname, '../docs/openapi.json');

/** The document as committed: formatted by prettier, so `prettier --check .` accepts it. */
export async function renderOpenApi(): Promise<string> {
  const config = loadConfig({
    NODE_ENV: 'test',
    // Nothing is contacted: unreachable addresses keep a stray connection attempt harmless.
    MONGODB_URI: 'mongodb://127.0.0.1:9/openapi',
    REDIS_URL: 'redis://127.0.0.1:9',
    REDIS_KEY_PREFIX: 'openapi:',
    LOG_LEVEL: 'silent',
  });
  const container = createContainer(config, createLogger({ level: 'silent' }));
  const app = createApp(container.deps);
  const json = JSON.stringify(buildOpenApiDocument(app, { version: VERSION }));
  return prettier.format(json, { ...(await prettier.resolveConfig(OUT)), filepath: OUT });
}

async function main(): Promise<void> {
  const text = await renderOpenApi();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OUT, 'utf8');
    } catch {
      // missing counts as out of date
    }
    if (current !== text) {
      console.error('docs/openapi.json is out of date: run npm run openapi');
      process.exit(1);
    }
    console.log('docs/openapi.json is up to date');
  } else {
    writeFileSync(OUT, text);
    console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
  }
  // The container's clients would keep retrying their unreachable servers.
  process.exit(0);
}

if (require.main === module) void main();
