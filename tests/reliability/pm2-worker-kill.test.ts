import { spawnSync } from 'node:child_process';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../scripts/local-services';
import { childEnv, testNamespace } from '../support/env';
import { ROOT } from '../support/process';
import { waitFor } from '../support/wait';
import { recordFigures } from './support/report';

const PM2 = path.join(ROOT, 'node_modules/.bin/pm2');
const ESBUILD = path.join(ROOT, 'node_modules/.bin/esbuild');

interface Answer {
  path: string;
  status: number;
  /** Whether the response's status line and headers arrived (a byte of the response was read). */
  headersReceived: boolean;
  /** Content-Length as sent, and the bytes actually received. */
  declared: number | null;
  received: number;
  json: boolean;
  /** The body ended normally ('end'), not by an abort, an error or a closed socket. */
  complete: boolean;
  /** Epoch ms when the request was sent and when its outcome was known. */
  startedAt: number;
  endedAt: number;
  error?: string;
}

/** One GET over a fresh connection, with the raw byte count (fetch would hide a short body). */
function get(port: number, p: string): Promise<Answer> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    let response: { res: http.IncomingMessage; chunks: Buffer[] } | undefined;
    const settle = (a: Omit<Answer, 'path' | 'startedAt' | 'endedAt'>) => {
      if (settled) return;
      settled = true;
      resolve({ path: p, startedAt, endedAt: Date.now(), ...a });
    };
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      response = { res, chunks };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => settle(answer(res, chunks, false, err)));
      res.on('aborted', () => settle(answer(res, chunks, false, new Error('response aborted'))));
      res.on('end', () => settle(answer(res, chunks, true)));
      res.on('close', () => settle(answer(res, chunks, false, new Error('closed before the end of the body'))));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    // After the headers, a request error cuts the body short: it is that response's outcome.
    req.on('error', (err) =>
      settle(
        response
          ? answer(response.res, response.chunks, false, err)
          : {
              status: 0,
              headersReceived: false,
              declared: null,
              received: 0,
              json: false,
              complete: false,
              error: err.message,
            },
      ),
    );
  });
  function answer(
    res: http.IncomingMessage,
    chunks: Buffer[],
    complete: boolean,
    err?: Error,
  ): Omit<Answer, 'path' | 'startedAt' | 'endedAt'> {
    const body = Buffer.concat(chunks);
    let json: boolean;
    try {
      JSON.parse(body.toString('utf8'));
      json = true;
    } catch {
      json = false;
    }
    const cl = res.headers['content-length'];
    return {
      status: res.statusCode ?? 0,
      headersReceived: true,
      declared: cl === undefined ? null : Number(cl),
      received: body.length,
      json,
      complete,
      ...(err ? { error: err.message } : {}),
    };
  }
}

interface Pm2Proc {
  pid: number;
  name: string;
  pm2_env: { status: string; restart_time: number; pm_id: number };
}

/** The classifier itself, against a server that cuts bodies short: the PM2 test relies on it. */
describe('truncated-body detection of the load client', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/cut') {
        // Headers promise 100 bytes; the socket is destroyed after 10.
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
        res.write('{"a":"1234');
        setImmediate(() => res.socket?.destroy());
      } else if (req.url === '/reset') {
        req.socket.destroy();
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
      }
    });
    port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('when the body is cut after the headers, then the answer has headers but is incomplete; a reset before them has no headers', async () => {
    expect(await get(port, '/whole')).toMatchObject({ headersReceived: true, complete: true, json: true, status: 200 });
    const cut = await get(port, '/cut');
    expect(cut).toMatchObject({ headersReceived: true, complete: false, json: false, declared: 100, received: 10 });
    expect(await get(port, '/reset')).toMatchObject({ headersReceived: false, status: 0, complete: false });
  });
});

/**
 * PM2 cluster mode, two workers of the real server (bundled with esbuild, run by node), a
 * private PM2_HOME: `kill -9` of one worker under a steady load. The other keeps serving,
 * PM2 starts a replacement, and no response arrives truncated.
 */
describe('PM2 cluster: kill -9 of one worker under load', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'erp-rel-pm2-'));
  const ns = testNamespace(__filename);
  const pm2 = (...args: string[]) =>
    spawnSync(PM2, args, { env: { ...process.env, PM2_HOME: home }, encoding: 'utf8', timeout: 120_000 });
  const list = (): Pm2Proc[] => JSON.parse(pm2('jlist').stdout || '[]') as Pm2Proc[];
  let port: number;
  let bundleDir: string | undefined;

  beforeAll(async () => {
    // Two levels below the repository, like dist/lib/*.js: the server finds package.json at ../../.
    bundleDir = mkdtempSync(path.join(ROOT, '.cache', 'rel-pm2-'));
    const bundle = path.join(bundleDir, 'server.js');
    const built = spawnSync(
      ESBUILD,
      [path.join(ROOT, 'src/server.ts'), '--bundle', '--platform=node', '--packages=external', `--outfile=${bundle}`],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(built.stderr).not.toMatch(/error/i);
    port = await freePort();
    const env = childEnv(ns, {
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      BCRYPT_COST: '10',
      RATE_LIMIT_GENERAL: '1000000/60',
      MONGODB_SYNC_INDEXES_ON_BOOT: 'false',
      NODE_PATH: path.join(ROOT, 'node_modules'),
    });
    const ecosystem = path.join(home, 'ecosystem.config.js');
    writeFileSync(
      ecosystem,
      `module.exports = ${JSON.stringify({
        apps: [
          {
            name: 'erp-rel',
            script: bundle,
            cwd: ROOT,
            exec_mode: 'cluster',
            instances: 2,
            wait_ready: true,
            listen_timeout: 60_000,
            kill_timeout: 12_000,
            autorestart: true,
            exp_backoff_restart_delay: 200,
            env,
          },
        ],
      })};\n`,
    );
    const started = pm2('start', ecosystem);
    expect([started.status, started.stderr]).toEqual([0, expect.anything()]);
    await waitFor(
      () => list().filter((p) => p.pm2_env.status === 'online').length === 2,
      120_000,
      'two online workers',
      250,
    );
    await waitFor(async () => (await get(port, '/health/live')).status === 200, 60_000, 'the cluster to answer', 250);
  }, 300_000);
  afterAll(async () => {
    pm2('kill');
    await fs.rm(home, { recursive: true, force: true });
    if (bundleDir) await fs.rm(bundleDir, { recursive: true, force: true });
  });

  it('when one worker is killed with SIGKILL, then the other keeps answering, PM2 restarts it, and no body is truncated', async () => {
    const answers: Array<Answer & { at: number }> = [];
    let running = true;
    const t0 = Date.now();
    const paths = ['/api/docs/openapi.json', '/health/live', '/'];
    const loops = [0, 1, 2, 3].map(async (n) => {
      for (let i = n; running; i++) {
        const a = await get(port, paths[i % paths.length]);
        answers.push({ ...a, at: a.endedAt - t0 });
      }
    });
    await waitFor(() => answers.length >= 20, 60_000, 'some answers before the kill');
    const before = list();
    const victim = before[0];
    const killSentAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const killReturnedAt = Date.now();
    const killedAt = killReturnedAt - t0;
    await waitFor(
      () => {
        const now = list();
        return now.filter((p) => p.pm2_env.status === 'online').length === 2 && !now.some((p) => p.pid === victim.pid);
      },
      120_000,
      'PM2 to restart the killed worker',
      250,
    );
    const restartedAt = Date.now() - t0;
    const mark = answers.length;
    await waitFor(() => answers.length >= mark + 20, 60_000, 'answers after the restart');
    running = false;
    await Promise.all(loops);

    const ok = answers.filter((a) => a.status === 200);
    const failed = answers.filter((a) => !a.headersReceived);
    // Every response whose headers arrived is whole: a 200, ended normally, its declared
    // length received and parseable JSON. Anything else is a truncated (or wrong) answer.
    const truncated = answers.filter(
      (a) =>
        a.headersReceived &&
        (a.status !== 200 ||
          !a.complete ||
          a.error !== undefined ||
          (a.declared !== null && a.declared !== a.received) ||
          !a.json),
    );
    expect(truncated).toEqual([]);
    // Failures before any response byte only for requests in flight when the worker died:
    // sent before the kill returned, and still open when it was sent.
    const outsideTheKill = failed.filter((f) => f.startedAt > killReturnedAt || f.endedAt < killSentAt);
    expect(outsideTheKill).toEqual([]);
    // The survivor kept serving while the victim was down.
    expect(ok.filter((a) => a.at > killedAt && a.at < restartedAt).length).toBeGreaterThan(0);
    expect(ok.filter((a) => a.at > restartedAt).length).toBeGreaterThan(0);
    const after = list();
    expect(after.find((p) => p.pm2_env.pm_id === victim.pm2_env.pm_id)?.pm2_env.restart_time).toBeGreaterThanOrEqual(1);
    recordFigures('pm2-kill-9', {
      answers: answers.length,
      ok: ok.length,
      connectionErrorsInFlightAtKill: failed.map((f) => f.error),
      truncated: truncated.length,
      restartMs: restartedAt - killedAt,
    });
  }, 300_000);
});
