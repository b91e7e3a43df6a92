import http from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Logger } from './lib/logger';
import type { HttpTimeouts } from './config';
import { PROBLEM_TYPE_BASE } from './lib/errors';
import { securityHeaders, type SecurityHeadersOptions } from './middleware/security-headers';

export interface HttpServerOptions {
  /** Largest request line plus headers, in bytes; more is answered 431. */
  maxHeaderBytes: number;
  timeouts: HttpTimeouts;
  securityHeaders: SecurityHeadersOptions;
  logger: Logger;
}

/**
 * The headers the app's security middleware sets on every answer, collected once by
 * running that middleware against a recording response: the raw answers below carry
 * the same set without a second list to keep in sync.
 */
export function staticSecurityHeaders(opts: SecurityHeadersOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name];
    },
  };
  for (const mw of securityHeaders(opts)) {
    (mw as unknown as (req: object, res: typeof recorder, next: () => void) => void)({}, recorder, () => undefined);
  }
  return headers;
}

interface ClientErrorProblem {
  status: number;
  code: string;
  title: string;
  detail: string;
}

/** Node's parser errors, as the problems its built-in answers (empty 400/408/413/431) stood for. */
export function clientErrorProblem(err: NodeJS.ErrnoException, maxHeaderBytes: number): ClientErrorProblem {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'request-header-fields-too-large',
        title: 'Request Header Fields Too Large',
        detail: `The request line and headers together exceed ${maxHeaderBytes} bytes.`,
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return {
        status: 413,
        code: 'payload-too-large',
        title: 'Payload Too Large',
        detail: 'The chunk extensions of the request body are too large.',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: 'request-timeout',
        title: 'Request Timeout',
        detail: 'The request was not received in time.',
      };
    default:
      return { status: 400, code: 'bad-request', title: 'Bad Request', detail: 'The request is not valid HTTP/1.1.' };
  }
}

/** A complete HTTP/1.1 response written straight to the socket: Express never saw the request. */
export function rawProblemResponse(
  problem: ClientErrorProblem,
  requestId: string,
  security: Record<string, string>,
): string {
  const body = JSON.stringify({
    type: PROBLEM_TYPE_BASE + problem.code,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    requestId,
  });
  const headers: Record<string, string> = {
    ...security,
    'Content-Type': 'application/problem+json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    'X-Request-Id': requestId,
    Date: new Date().toUTCString(),
    Connection: 'close',
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\r\n');
  return `HTTP/1.1 ${problem.status} ${http.STATUS_CODES[problem.status] ?? problem.title}\r\n${head}\r\n\r\n${body}`;
}

/** How often the server looks for connections past their deadline: a quarter of the shortest, at most 1 s. */
export function timeoutCheckIntervalMs(t: HttpTimeouts): number {
  return Math.max(100, Math.min(1_000, Math.floor(Math.min(t.headersMs, t.requestMs) / 4)));
}

/**
 * The HTTP server around the app: deliberate header-size limit and timeouts, and
 * problem+json (with the security headers) for requests Node refuses before Express
 * runs: oversized headers or URLs, malformed HTTP, header timeouts.
 */
export function createHttpServer(app: http.RequestListener, opts: HttpServerOptions): http.Server {
  const { headersMs, requestMs, keepAliveMs } = opts.timeouts;
  const server = http.createServer(
    {
      maxHeaderSize: opts.maxHeaderBytes,
      // Node checks the header and request deadlines only this often (30 s by default), so a
      // slow-loris client would outlive its timeout by up to that much.
      connectionsCheckingInterval: timeoutCheckIntervalMs(opts.timeouts),
    },
    app,
  );
  // Behind nginx: keep-alive longer than the proxy's so it never reuses a closed socket.
  // Set as properties: Node's constructor check (headers ≤ request) would refuse the
  // default of headers above keep-alive; the request deadline caps the headers anyway.
  server.keepAliveTimeout = keepAliveMs;
  server.headersTimeout = headersMs;
  server.requestTimeout = requestMs;

  const security = staticSecurityHeaders(opts.securityHeaders);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // The peer is gone (or never finished connecting): nothing to answer.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // As Node does: answer only if no response of this connection has started (a
    // keep-alive connection may fail mid-way through a later request).
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const problem = clientErrorProblem(err, opts.maxHeaderBytes);
    const requestId = randomUUID();
    opts.logger.debug({ requestId, code: err.code, status: problem.status }, 'request refused by the HTTP parser');
    // Close once flushed: the parser is broken for this connection, and a client still
    // streaming an oversized header must not keep the socket open.
    socket.end(rawProblemResponse(problem, requestId, security), () => socket.destroy());
  });
  return server;
}
