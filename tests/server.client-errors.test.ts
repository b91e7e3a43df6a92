import net from 'node:net';
import { freePort } from '../scripts/local-services';
import { staticSecurityHeaders } from '../src/http-server';
import { childEnv, testNamespace } from './support/env';
import { runTs, waitFor, type RunningProcess } from './support/process';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `request` on a fresh TCP connection and reads until the server closes it. */
function rawRequest(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const split = data.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = data.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: data.slice(split + 4) });
    });
    socket.write(request);
  });
}

const get = (path: string, extraHeaders = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extraHeaders}Connection: close\r\n\r\n`;

function expectProblem(res: RawResponse, status: number, type: RegExp): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['connection']).toBe('close');
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['x-frame-options']).toBe('DENY');
  expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  expect(res.headers['permissions-policy']).toContain('camera=()');
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['x-powered-by']).toBeUndefined();
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(body).toMatchObject({ status, type: expect.stringMatching(type), title: expect.any(String) });
  expect(body.requestId).toBe(res.headers['x-request-id']);
}

describe('requests Node refuses before Express runs', () => {
  let proc: RunningProcess;
  let port: number;
  beforeAll(async () => {
    const ns = testNamespace(__filename);
    port = await freePort();
    proc = runTs('src/server.ts', childEnv(ns, { PORT: String(port), HTTP_MAX_HEADER_BYTES: '4096' }));
    await waitFor(() => proc.stdout().includes('erp-backend listening'), 30_000, 'server to listen');
  }, 40_000);
  afterAll(async () => {
    proc.child.kill('SIGTERM');
    await proc.exited;
  });

  it('when the headers exceed HTTP_MAX_HEADER_BYTES, then 431 problem+json with the security headers, and the connection closes', async () => {
    // 5000 bytes: under Node's own 16 KiB default, so only the configured limit refuses it.
    const res = await rawRequest(port, get('/health/live', `X-Padding: ${'a'.repeat(5000)}\r\n`));
    expectProblem(res, 431, /request-header-fields-too-large$/);
    expect(JSON.parse(res.body).detail).toMatch(/4096 bytes/);
  });

  it('when the URL alone is oversized, then 431 problem+json as well', async () => {
    const res = await rawRequest(port, get(`/health/live?q=${'x'.repeat(6000)}`));
    expectProblem(res, 431, /request-header-fields-too-large$/);
  });

  it('when the request is not valid HTTP, then 400 problem+json with the security headers', async () => {
    expectProblem(await rawRequest(port, 'THIS IS NOT HTTP\r\n\r\n'), 400, /bad-request$/);
    expectProblem(
      await rawRequest(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header Name: y\r\n\r\n'),
      400,
      /bad-request$/,
    );
  });

  it('when headers stay under the limit, then the request is served as usual', async () => {
    const res = await rawRequest(port, get('/health/live', `X-Padding: ${'a'.repeat(3000)}\r\n`));
    expect(res.status).toBe(200);
    // The raw answers carry exactly what the app's security middleware sends.
    const security = staticSecurityHeaders({ hsts: false, hstsPreload: false });
    expect(Object.keys(security).length).toBeGreaterThan(8);
    for (const [name, value] of Object.entries(security)) expect(res.headers[name.toLowerCase()]).toBe(value);
  });

  it('when HSTS is on (production), then the raw answers carry it too', () => {
    expect(staticSecurityHeaders({ hsts: true, hstsPreload: false })['Strict-Transport-Security']).toBe(
      'max-age=31536000; includeSubDomains',
    );
  });
});
