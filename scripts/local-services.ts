/**
 * Brings up the MongoDB-wire server and Redis that local runs and tests need, when they
 * are not configured: MONGODB_URI wins, else a `mongod` on PATH, else FerretDB 1.24.2
 * (SQLite backend) built into .cache/bin. REDIS_URL wins, else a Redis on 127.0.0.1:6379,
 * else a `redis-server` started here. Used by scripts/dev.sh and the jest global setup.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

export interface LocalService {
  url: string;
  /** What is serving it, for the startup banner. */
  description: string;
  /** Present when this process started the server; stops it. */
  stop?: () => Promise<void>;
  pid?: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function waitForPort(host: string, port: number, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portAnswers(host, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start listening on ${host}:${port} within ${timeoutMs} ms`);
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function stopChild(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
}

export interface StartOptions {
  /** Data folder for a server started here. */
  dataDir: string;
  /** Port for a server started here; a free one when omitted. */
  port?: number;
  /** Keep the started server running after this process exits (dev script). */
  detached?: boolean;
}

/** Starts a FerretDB (SQLite backend) on 127.0.0.1. Also used by tests that stop their own MongoDB. */
export async function startFerretDb(opts: StartOptions): Promise<LocalService> {
  const build = spawnSync('bash', [path.join(ROOT, 'scripts/build-ferretdb.sh')], { stdio: 'inherit' });
  if (build.status !== 0)
    throw new Error('could not build FerretDB (see output above); set MONGODB_URI to use another server');
  const port = opts.port ?? (await freePort());
  mkdirSync(opts.dataDir, { recursive: true });
  const log = openSync(path.join(opts.dataDir, 'ferretdb.log'), 'a');
  const child = spawn(
    path.join(ROOT, '.cache/bin/ferretdb'),
    [
      '--handler=sqlite',
      `--sqlite-url=file:${opts.dataDir}/`,
      `--state-dir=${opts.dataDir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
    ],
    { stdio: ['ignore', log, log], detached: opts.detached ?? false },
  );
  if (opts.detached) child.unref();
  await waitForPort('127.0.0.1', port, 'FerretDB');
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    description: `FerretDB 1.24.2 (SQLite in ${opts.dataDir}) on 127.0.0.1:${port}, pid ${child.pid}`,
    stop: stopChild(child),
    pid: child.pid,
  };
}

export async function ensureMongo(
  env: NodeJS.ProcessEnv,
  opts: StartOptions & { reuseIfListening?: boolean },
): Promise<LocalService> {
  if (env.MONGODB_URI) return { url: env.MONGODB_URI, description: 'MONGODB_URI from the environment' };
  if (opts.reuseIfListening && opts.port && (await portAnswers('127.0.0.1', opts.port))) {
    return {
      url: `mongodb://127.0.0.1:${opts.port}/`,
      description: `the server already listening on 127.0.0.1:${opts.port} (started by an earlier run)`,
    };
  }
  if (onPath('mongod')) {
    const port = opts.port ?? (await freePort());
    mkdirSync(opts.dataDir, { recursive: true });
    const child = spawn('mongod', ['--dbpath', opts.dataDir, '--bind_ip', '127.0.0.1', '--port', String(port)], {
      stdio: 'ignore',
      detached: opts.detached ?? false,
    });
    if (opts.detached) child.unref();
    await waitForPort('127.0.0.1', port, 'mongod');
    return {
      url: `mongodb://127.0.0.1:${port}/`,
      description: `mongod on 127.0.0.1:${port}`,
      stop: stopChild(child),
      pid: child.pid,
    };
  }
  return startFerretDb(opts);
}

/** Starts a redis-server on 127.0.0.1 that keeps nothing on disk. Also used by tests that stop their own Redis. */
export async function startRedis(opts: { port?: number; detached?: boolean } = {}): Promise<LocalService> {
  if (!onPath('redis-server'))
    throw new Error(
      'no Redis is configured or running, and redis-server is not installed (apt-get install redis-server)',
    );
  const port = opts.port ?? (await freePort());
  const child = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
      detached: opts.detached ?? false,
    },
  );
  if (opts.detached) child.unref();
  await waitForPort('127.0.0.1', port, 'redis-server');
  return {
    url: `redis://127.0.0.1:${port}`,
    description: `redis-server on 127.0.0.1:${port}, pid ${child.pid}`,
    stop: stopChild(child),
    pid: child.pid,
  };
}

export async function ensureRedis(env: NodeJS.ProcessEnv, opts: { detached?: boolean } = {}): Promise<LocalService> {
  if (env.REDIS_URL) return { url: env.REDIS_URL, description: 'REDIS_URL from the environment' };
  if (await portAnswers('127.0.0.1', 6379))
    return { url: 'redis://127.0.0.1:6379', description: 'the Redis already running on 127.0.0.1:6379' };
  return startRedis({ port: 6379, detached: opts.detached });
}
