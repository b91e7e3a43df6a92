/**
 * Brings up the MongoDB-wire server and Redis that local runs and tests need, when they
 * are not configured: MONGODB_URI wins, else a `mongod` on PATH, else FerretDB 1.24.2
 * (SQLite backend) built into .cache/bin. REDIS_URL wins, else a Redis on 127.0.0.1:6379,
 * else a `redis-server` started here. Used by scripts/dev.sh and the jest global setup.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
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

/** What a server started here for a data folder leaves behind, so a later run can recognise it. */
interface ServerRecord {
  pid: number;
  port: number;
  url: string;
  description: string;
}

const recordFile = (dataDir: string): string => path.join(dataDir, 'server.json');

/** The command line of a live process, or undefined (gone, or not ours to see). */
function commandLineOf(pid: number): string | undefined {
  const ps = spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
  return ps.status === 0 ? ps.stdout.trim() : undefined;
}

/**
 * The server an earlier run started for `dataDir`, if it still runs: its pid is alive, its
 * command line names this data folder, and it answers on the recorded port. Anything else
 * listening on that port (another project's FerretDB or mongod) is not reused.
 */
export async function ownServer(dataDir: string): Promise<ServerRecord | undefined> {
  let record: ServerRecord;
  try {
    record = JSON.parse(readFileSync(recordFile(dataDir), 'utf8')) as ServerRecord;
  } catch {
    return undefined;
  }
  const cmd = commandLineOf(record.pid);
  if (!cmd || !cmd.includes(dataDir) || !cmd.includes(String(record.port))) return undefined;
  return (await portAnswers('127.0.0.1', record.port)) ? record : undefined;
}

function remember(dataDir: string, service: LocalService): void {
  if (service.pid === undefined) return;
  const port = Number(new URL(service.url).port);
  const record: ServerRecord = { pid: service.pid, port, url: service.url, description: service.description };
  writeFileSync(recordFile(dataDir), JSON.stringify(record, null, 2) + '\n');
}

export async function ensureMongo(
  env: NodeJS.ProcessEnv,
  opts: StartOptions & { reuseOwn?: boolean },
): Promise<LocalService> {
  if (env.MONGODB_URI) return { url: env.MONGODB_URI, description: 'MONGODB_URI from the environment' };
  if (opts.reuseOwn) {
    const own = await ownServer(opts.dataDir);
    if (own) return { url: own.url, description: `${own.description} (started by an earlier run)`, pid: own.pid };
  }
  // The preferred port may be held by someone else's server: never adopt it, take a free port instead.
  let port = opts.port;
  let note = '';
  if (port !== undefined && (await portAnswers('127.0.0.1', port))) {
    note = ` (port ${port} is in use by another process)`;
    port = await freePort();
  }
  let service: LocalService;
  if (onPath('mongod')) {
    port = port ?? (await freePort());
    mkdirSync(opts.dataDir, { recursive: true });
    const child = spawn('mongod', ['--dbpath', opts.dataDir, '--bind_ip', '127.0.0.1', '--port', String(port)], {
      stdio: 'ignore',
      detached: opts.detached ?? false,
    });
    if (opts.detached) child.unref();
    await waitForPort('127.0.0.1', port, 'mongod');
    service = {
      url: `mongodb://127.0.0.1:${port}/`,
      description: `mongod (data in ${opts.dataDir}) on 127.0.0.1:${port}, pid ${child.pid}`,
      stop: stopChild(child),
      pid: child.pid,
    };
  } else {
    service = await startFerretDb({ ...opts, port });
  }
  if (opts.reuseOwn) remember(opts.dataDir, service);
  return { ...service, description: service.description + note };
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
