import http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { freePort } from '../scripts/local-services';
import { testMongoUri, testNamespace, testRedisUrl } from './support/env';
import { runTs, waitFor } from './support/process';

describe('server process', () => {
  it('when SIGTERM arrives during a slow request, then the request finishes and the process exits 0', async () => {
    const ns = testNamespace(__filename);
    const port = await freePort();
    const proc = runTs('src/server.ts', {
      NODE_ENV: 'test',
      PORT: String(port),
      MONGODB_URI: testMongoUri(ns.dbName),
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: ns.redisPrefix,
      MONGODB_MIN_POOL_SIZE: '1',
      SHUTDOWN_TIMEOUT_MS: '15000',
    });
    await waitFor(() => proc.stdout().includes('erp-backend listening'), 20_000, 'server to listen');

    // A request whose body trickles in: it is in flight while the signal arrives.
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/v1/slow-upload',
          headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.write('{"part":');
      setTimeout(() => {
        proc.child.kill('SIGTERM');
        setTimeout(() => req.end('"two"}'), 1500);
      }, 300);
    });

    const res = await response;
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body).status).toBe(404);
    expect(await proc.exited).toBe(0);
    expect(proc.stdout()).toContain('shutdown complete');
    // Once draining started, new connections are refused.
    await expect(
      new Promise((resolve, reject) =>
        http.get({ host: '127.0.0.1', port, path: '/health/live' }, resolve).on('error', reject),
      ),
    ).rejects.toThrow();
  }, 40_000);

  const serverEnv = (port: number, extra: Record<string, string> = {}): Record<string, string> => {
    const ns = testNamespace(__filename);
    return {
      NODE_ENV: 'test',
      PORT: String(port),
      MONGODB_URI: testMongoUri(ns.dbName),
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: ns.redisPrefix,
      MONGODB_MIN_POOL_SIZE: '1',
      ...extra,
    };
  };

  it('when a request never finishes, then shutdown gives up after SHUTDOWN_TIMEOUT_MS and exits 1', async () => {
    const port = await freePort();
    const proc = runTs('src/server.ts', serverEnv(port, { SHUTDOWN_TIMEOUT_MS: '1500' }));
    await waitFor(() => proc.stdout().includes('erp-backend listening'), 20_000, 'server to listen');
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/api/v1/stuck',
      headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
    });
    req.on('error', () => undefined);
    req.write('{"never":');
    await new Promise((r) => setTimeout(r, 300));
    const signalledAt = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(1);
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(1400);
    expect(proc.stdout()).toContain('graceful shutdown timed out');
    req.destroy();
  }, 40_000);

  it('when run under PM2 (an IPC channel), then it sends ready once listening and stops cleanly on the shutdown message', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../src/server.ts')], {
      cwd: path.resolve(__dirname, '..'),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...serverEnv(port) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const messages: unknown[] = [];
    child.on('message', (m) => messages.push(m));
    await waitFor(() => messages.includes('ready'), 20_000, 'the ready message');
    // Ready means listening: the very next request is served (log lines may still be in flight).
    const live = await new Promise<number>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port, path: '/health/live' }, (r) => resolve(r.statusCode ?? 0))
        .on('error', reject),
    );
    expect(live).toBe(200);
    child.send('shutdown');
    expect(await exited).toBe(0);
    expect(out).toContain('shutdown complete');
  }, 40_000);
});
