/**
 * `npm run bench` (every scenario) and `npm run bench -- <name> [<name>...]`: starts the real
 * app in production mode (child process, info-level log to a file under bench/results/) on
 * local FerretDB and Redis, seeds it, runs each scenario's load in its own process against a
 * baseline measured in the same run, prints one table and writes bench/results/<time>.json
 * and bench/results/latest.json. Never part of `npm test`.
 *
 * Knobs (environment): BENCH_DURATION_S (seconds per load round, default 5), BENCH_ROUNDS
 * (alternating rounds for ratios, default 3), BENCH_MIXED_DURATION_S (per offered-rate step),
 * BENCH_APP_ENV (extra app settings, `KEY=value,KEY=value`, e.g. a cache flag to compare),
 * BENCH_UV_THREADPOOL_SIZE (the app's libuv pool: bcrypt runs there), BENCH_BACKUP_SIZES,
 * BENCH_CPU_PROF (a directory: the app writes its V8 CPU profile there when the run ends),
 * MONGODB_URI / REDIS_URL (use these servers instead of starting a FerretDB / using :6379).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureMongo, ensureRedis } from '../scripts/local-services';
import {
  productionEnv,
  startApp,
  startBareExpress,
  type AppProcess,
  type ChildServer,
  ROOT,
} from './support/app-process';
import { runMicro } from './support/child-json';
import { DURATION_S, ROUNDS } from './support/load';
import { renderTable, type Row } from './support/report';
import { dropDatabase, seed } from './support/seed';
import { deleteKeys } from './support/redis-keys';
import type { Fixture } from './support/workload';
import * as http from './scenarios/http';
import { rateLimit } from './scenarios/rate-limit';

interface Ctx {
  mongoUrl: string;
  redisUrl: string;
  redisPrefix: string;
  env: Record<string, string>;
  http?: http.HttpContext;
  log: (msg: string) => void;
}

interface Scenario {
  name: string;
  needsApp: boolean;
  run: (ctx: Ctx) => Promise<Row[]>;
}

const withHttp =
  (fn: (c: http.HttpContext) => Promise<Row[]>) =>
  (ctx: Ctx): Promise<Row[]> =>
    fn(ctx.http!);

/** In the order they run: the app-free CPU measurement first, the heaviest loads last, the backup after the app stops. */
export const SCENARIOS: Scenario[] = [
  { name: 'encryption', needsApp: false, run: () => runMicro('encryption', {}) },
  { name: 'auth-get', needsApp: true, run: withHttp(http.authGet) },
  { name: 'health-live', needsApp: true, run: withHttp(http.healthLive) },
  {
    name: 'rate-limit',
    needsApp: false,
    run: (ctx) =>
      rateLimit({
        redisUrl: ctx.redisUrl,
        redisPrefix: `${ctx.redisPrefix}limiter:`,
        rounds: ROUNDS,
        durationS: DURATION_S,
      }),
  },
  {
    name: 'session-lookup',
    needsApp: true,
    run: async (ctx) => [
      ...(await runMicro('session-lookup', { env: ctx.env, tokens: ctx.http!.fixture.userTokens })),
      ...(await http.sessionLookupHttp(ctx.http!)),
    ],
  },
  // Sign-ins before the invoice loads: on FerretDB those leave a queue of sorted reads behind.
  { name: 'login', needsApp: true, run: withHttp(http.login) },
  { name: 'invoice-page', needsApp: true, run: withHttp(http.invoicePage) },
  { name: 'mixed', needsApp: true, run: withHttp(http.mixed) },
  { name: 'backup', needsApp: false, run: (ctx) => runMicro('backup', { mongoUrl: ctx.mongoUrl }, 900_000) },
];

/** `KEY=value,KEY=value` → object (BENCH_APP_ENV). */
export function parseEnvList(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

function machine(): Record<string, string | number> {
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.name === w));
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const chosen = wanted.length ? SCENARIOS.filter((s) => wanted.includes(s.name)) : SCENARIOS;
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const log = (msg: string): void =>
    console.log(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0)}s] ${msg}`);

  const mongo = await ensureMongo(process.env, { dataDir: path.join(ROOT, '.data/bench-ferretdb') });
  const redis = await ensureRedis(process.env);
  log(`MongoDB: ${mongo.description}; Redis: ${redis.description}`);
  const tag = randomBytes(4).toString('hex');
  const redisPrefix = `bench:${tag}:`;
  const extra = parseEnvList(process.env.BENCH_APP_ENV);
  if (process.env.BENCH_UV_THREADPOOL_SIZE) extra.UV_THREADPOOL_SIZE = process.env.BENCH_UV_THREADPOOL_SIZE;
  const env = productionEnv({
    mongoUrl: mongo.url,
    dbName: `erp_bench_${tag}`,
    redisUrl: redis.url,
    redisPrefix,
    extra,
  });
  const ctx: Ctx = { mongoUrl: mongo.url, redisUrl: redis.url, redisPrefix, env, log };

  const rows: Row[] = [];
  let crashed = false;
  const machineAtStart = machine();
  /** Writes the results so far (after every scenario: a run cut short keeps what it measured); the seconds run. */
  const save = (complete: boolean): number => {
    const seconds = (Date.now() - started.getTime()) / 1000;
    const report = {
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      complete,
      seconds,
      scenarios: chosen.map((s) => s.name),
      settings: { durationS: DURATION_S, rounds: ROUNDS, appEnv: extra },
      machine: machineAtStart,
      rows,
    };
    const json = JSON.stringify(report, null, 2) + '\n';
    writeFileSync(path.join(resultsDir, `${stamp}.json`), json);
    writeFileSync(path.join(resultsDir, 'latest.json'), json);
    return seconds;
  };
  let app: AppProcess | undefined;
  let bare: ChildServer | undefined;
  const logFile = path.join(resultsDir, `${stamp}.app.log`);
  try {
    let fixture: Fixture | undefined;
    if (chosen.some((s) => s.needsApp)) {
      log('seeding users, 2FA sessions and 10,000 invoices...');
      fixture = await seed(env);
      app = await startApp(env, logFile);
      bare = await startBareExpress();
      log(
        `app (production, pid ${app.pid}) at ${app.url}, log ${path.relative(ROOT, logFile)}; bare Express pid ${bare.pid}`,
      );
      ctx.http = { app, bare, fixture, durationS: DURATION_S, rounds: ROUNDS, log };
    }
    for (const s of chosen) {
      if (s.name === 'backup' && app) {
        // The backup competes with nothing else: the app is done.
        await app.stop();
        await bare?.stop();
        app = undefined;
        bare = undefined;
      }
      log(`scenario ${s.name}...`);
      const t0 = Date.now();
      try {
        const got = await s.run(ctx);
        rows.push(...got);
        log(`scenario ${s.name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      } catch (err) {
        crashed = true;
        rows.push({ scenario: s.name, subject: 'scenario failed to run', pass: false, note: (err as Error).message });
        console.error(`scenario ${s.name} failed:`, err);
      }
      save(false);
    }
  } finally {
    await app?.stop();
    await bare?.stop();
    await dropDatabase(env).catch((err: unknown) => console.error('dropping the bench database failed:', err));
    await deleteKeys(redis.url, redisPrefix).catch((err: unknown) =>
      console.error('deleting bench Redis keys failed:', err),
    );
    await mongo.stop?.();
    await redis.stop?.();
  }

  const seconds = save(true);
  console.log('\n' + renderTable(rows) + '\n');
  for (const r of rows.filter((r) => r.note)) console.log(`- ${r.scenario} / ${r.subject}: ${r.note}`);
  console.log(`\nwhole run: ${seconds.toFixed(0)} s`);
  console.log(`results: bench/results/${stamp}.json (and latest.json)`);
  // Exit explicitly: a driver's lingering socket must not keep a finished run alive.
  process.exit(crashed ? 1 : 0);
}

if (require.main === module)
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
