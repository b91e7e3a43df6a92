import net from 'node:net';
import { freePort } from '../../scripts/local-services';
import { loadConfig } from '../../src/config';
import { timeoutCheckIntervalMs } from '../../src/http-server';
import { childEnv, testNamespace } from '../support/env';
import { runTs, waitFor, type RunningProcess } from '../support/process';

const HEADERS_MS = 2_000;
const REQUEST_MS = 3_000;
const KEEP_ALIVE_MS = 1_500;
const CHECK_MS = timeoutCheckIntervalMs({ headersMs: HEADERS_MS, requestMs: REQUEST_MS, keepAliveMs: KEEP_ALIVE_MS });
/** What a loaded 2-core machine may add to a deadline (scheduling, the child's event loop). */
const SLACK_MS = 2_500;

interface SlowClient {
  /** Resolves when the server closes the connection: elapsed ms since connect and what it sent. */
  closed: Promise<{ elapsedMs: number; data: string }>;
  socket: net.Socket;
}

/**
 * Opens a connection, writes `head` at once and then one byte of `drip` every 200 ms, never
 * finishing: a slow-loris client. Stops dripping once the server closes the socket.
 */
function slowClient(port: number, head: string, drip: string): SlowClient {
  const socket = net.connect({ host: '127.0.0.1', port });
  const started = Date.now();
  let data = '';
  let i = 0;
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (data += d));
  socket.on('error', () => undefined); // a reset after the server gave up is the expected end
  socket.on('connect', () => socket.write(head));
  const timer = setInterval(() => {
    if (socket.writable) socket.write(drip[i++ % drip.length]);
  }, 200);
  const closed = new Promise<{ elapsedMs: number; data: string }>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ elapsedMs: Date.now() - started, data });
    }),
  );
  return { closed, socket };
}

function expect408Problem(data: string): void {
  // The server answers what it can before closing: a 408 problem, never a hang or a 5xx.
  expect(data).toMatch(/^HTTP\/1\.1 408 /);
  expect(data).toMatch(/\r\ncontent-type: application\/problem\+json/i);
  expect(data.slice(data.indexOf('\r\n\r\n') + 4)).toMatch(/"status":408/);
}

describe('slow-loris clients against the real listening server', () => {
  let proc: RunningProcess;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    proc = runTs(
      'src/server.ts',
      childEnv(testNamespace(__filename), {
        PORT: String(port),
        HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
        HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
        HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
        LOG_LEVEL: 'info',
      }),
    );
    await waitFor(() => proc.stdout().includes('erp-backend listening'), 60_000, 'server to listen');
  }, 70_000);
  afterAll(async () => {
    proc.child.kill('SIGTERM');
    await proc.exited;
  });

  it('when the server is configured without the timeout variables, then the slow-client guards have their documented defaults', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).http.timeouts).toEqual({
      headersMs: 66_000,
      requestMs: 30_000,
      keepAliveMs: 65_000,
    });
    // Node looks for expired connections every 30 s unless told otherwise.
    expect(timeoutCheckIntervalMs({ headersMs: 66_000, requestMs: 30_000, keepAliveMs: 65_000 })).toBe(1_000);
  });

  it('when a client sends its headers one byte at a time and never ends them, then 408 problem+json and the connection closes within HTTP_HEADERS_TIMEOUT_MS', async () => {
    const client = slowClient(port, 'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: aaaaaaaa\r\n');
    const { elapsedMs, data } = await client.closed;
    expect(elapsedMs).toBeGreaterThanOrEqual(HEADERS_MS - 100);
    expect(elapsedMs).toBeLessThan(HEADERS_MS + CHECK_MS + SLACK_MS);
    expect408Problem(data);
  });

  it('when a client sends complete headers and then drips its body, then the connection closes within HTTP_REQUEST_TIMEOUT_MS', async () => {
    const head =
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"email":"';
    const client = slowClient(port, head, 'a');
    const { elapsedMs, data } = await client.closed;
    expect(elapsedMs).toBeGreaterThanOrEqual(REQUEST_MS - 100);
    expect(elapsedMs).toBeLessThan(REQUEST_MS + CHECK_MS + SLACK_MS);
    expect408Problem(data);
  });

  it('when 40 slow-loris connections are open, then a normal request is still served and every slow connection is closed in time', async () => {
    const clients = Array.from({ length: 40 }, () =>
      slowClient(port, 'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: b\r\n'),
    );
    const res = await fetch(`http://127.0.0.1:${port}/health/live`);
    expect(res.status).toBe(200);
    const results = await Promise.all(clients.map((c) => c.closed));
    for (const { elapsedMs } of results) expect(elapsedMs).toBeLessThan(HEADERS_MS + CHECK_MS + SLACK_MS);
    expect(proc.child.exitCode).toBeNull();
  });

  it('when a keep-alive connection sits idle after its answer, then the server closes it after HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    let answeredAt = 0;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      data += d;
      answeredAt ||= Date.now();
    });
    socket.on('connect', () => socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    const idleMs = await new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - answeredAt)));
    expect(data).toMatch(/^HTTP\/1\.1 200 /);
    expect(idleMs).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 100);
    expect(idleMs).toBeLessThan(KEEP_ALIVE_MS + SLACK_MS);
  });
});
