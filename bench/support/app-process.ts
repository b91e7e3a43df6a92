/**
 * The real app as deployed, in a child process: `node --import tsx src/server.ts` with
 * NODE_ENV=production, secrets generated for this run, info-level logging to a file. Also
 * the baseline servers (bare Express 5) and what the soak test reads from outside the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from '../../scripts/local-services';

export const ROOT = path.resolve(__dirname, '../..');

export interface AppEnvOptions {
  /** Server URL without database (mongodb://host:port/). */
  mongoUrl: string;
  dbName: string;
  redisUrl: string;
  redisPrefix: string;
  /** Overrides on top of the benchmark settings (e.g. a cache flag, UV_THREADPOOL_SIZE). */
  extra?: Record<string, string>;
}

const key = (): string => randomBytes(32).toString('base64');

/** The environment production requires, with fresh secrets; shared by the app and the seeding container. */
export function productionEnv(opts: AppEnvOptions): Record<string, string> {
  const u = new URL(opts.mongoUrl);
  u.pathname = '/' + opts.dbName;
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    MONGODB_URI: u.toString(),
    REDIS_URL: opts.redisUrl,
    REDIS_KEY_PREFIX: opts.redisPrefix,
    JWT_SECRET: randomBytes(32).toString('hex'),
    // Long enough that tokens minted at seeding outlive a full run (10 minutes soak included).
    JWT_ACCESS_TTL_SECONDS: '3600',
    ENCRYPTION_KEYS: `k1:${key()}`,
    BLIND_INDEX_KEY: key(),
    AUDIT_HMAC_KEYS: `a1:${key()}`,
    // Nothing is mailed: staff sign in without a second factor, managers get seeded 2FA sessions.
    SMTP_URL: 'smtp://127.0.0.1:9/',
    BCRYPT_COST: '12',
    BACKUP_ENABLED: 'false',
    // The limiter runs on every request (its cost is measured), but a benchmark's few users
    // must not be refused: the highest limit config allows.
    RATE_LIMIT_GENERAL: '1000000/60',
    RATE_LIMIT_AUTH: '1000000/60',
    // The load generator shares these 2 cores: its CPU use must not turn /health into 503s.
    HEALTH_CPU_LOAD_PER_CORE: '1000/2000',
    HEALTH_EVENT_LOOP_DELAY_MS: '10000/20000',
    HEALTH_DB_LATENCY_MS: '10000/20000',
    HEALTH_REDIS_LATENCY_MS: '10000/20000',
    ...opts.extra,
  };
}

export interface ChildServer {
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface AppProcess extends ChildServer {
  logFile: string;
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    });
}

/** Starts src/server.ts with `env` (PATH and HOME added) on a free port; resolves once /health/live answers 200. */
export async function startApp(
  env: Record<string, string>,
  logFile: string,
  timeoutMs = 180_000,
  /** Another checkout's root, to compare two versions of the app side by side. */
  root = ROOT,
): Promise<AppProcess> {
  const port = await freePort();
  const log = openSync(logFile, 'a');
  // BENCH_CPU_PROF=<dir>: V8 writes the app's CPU profile there when it exits (read it with
  // `npx tsx bench/profile/top.ts <file>.cpuprofile`).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', path.join(root, 'src/server.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while ((await getStatus(`${url}/health/live`)) !== 200) {
    if (child.exitCode !== null)
      throw new Error(`the app exited with ${child.exitCode} before listening; see ${logFile}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the app did not answer within ${timeoutMs} ms; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, pid: child.pid!, child, logFile, stop: stopper(child) };
}

/** The baseline: a bare Express 5 app (bench/support/bare-express.ts) in its own process. */
export async function startBareExpress(): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'bare-express.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`bare Express exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, child, stop: stopper(child) };
}

/** Resident set size of a process in KiB, from /proc/<pid>/status (measured from outside). */
export function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** Open file descriptors (sockets, files, pipes) of a process, from /proc/<pid>/fd. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
