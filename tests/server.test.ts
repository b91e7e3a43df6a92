import http from 'node:http';
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
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/slow-upload', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
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
      new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/health/live' }, resolve).on('error', reject)),
    ).rejects.toThrow();
  }, 40_000);
});
