import http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { freePort } from '../scripts/local-services';
import { childEnv, testNamespace } from './support/env';
import { runTs } from './support/process';
import { waitFor } from './support/wait';

describe('server process', () => {
  const serverEnv = (port: number, extra: Record<string, string> = {}): Record<string, string> => {
    const ns = testNamespace(__filename);
    return childEnv(ns, { PORT: String(port), ...extra });
  };

  /**
   * A POST whose body is held back. It resolves `inFlight` once the server has parsed the
   * request head (its `100 Continue` proves it: no head start to guess on a loaded machine).
   */
  const heldRequest = (port: number, path: string) => {
    let inFlight!: () => void;
    const accepted = new Promise<void>((r) => (inFlight = r));
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path,
      headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', Expect: '100-continue' },
    });
    req.on('continue', () => inFlight());
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    req.flushHeaders();
    return { req, accepted, response };
  };

  it('when SIGTERM arrives during a slow request, then the request finishes and the process exits 0', async () => {
    const port = await freePort();
    const proc = runTs('src/server.ts', serverEnv(port, { SHUTDOWN_TIMEOUT_MS: '15000' }));
    await waitFor(() => proc.stdout().includes('erp-backend listening'), 120_000, 'server to listen');

    // A request whose body is still to come while the signal arrives.
    const held = heldRequest(port, '/api/v1/slow-upload');
    await held.accepted;
    proc.child.kill('SIGTERM');
    await waitFor(() => proc.stdout().includes('shutting down'), 30_000, 'the server to start draining');
    held.req.end('{"part":"two"}');

    const res = await held.response;
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
  }, 180_000);

  it('when a request never finishes, then shutdown gives up after SHUTDOWN_TIMEOUT_MS and exits 1', async () => {
    const port = await freePort();
    const proc = runTs('src/server.ts', serverEnv(port, { SHUTDOWN_TIMEOUT_MS: '1500' }));
    await waitFor(() => proc.stdout().includes('erp-backend listening'), 120_000, 'server to listen');
    const held = heldRequest(port, '/api/v1/stuck');
    held.response.catch(() => undefined);
    await held.accepted;
    const signalledAt = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(1);
    // A lower bound only: a loaded machine can make the exit later, never earlier.
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(1400);
    expect(proc.stdout()).toContain('graceful shutdown timed out');
    held.req.destroy();
  }, 180_000);

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
    await waitFor(() => messages.includes('ready'), 120_000, 'the ready message');
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
  }, 180_000);
});
