import http from 'node:http';
import type { Express } from 'express';
import type { AlertService } from '../../src/services/alerts/alert.service';
import { buildTestApp, ROUTE_TEST_ENV, TestClock, type TestApp } from './app';

export interface AlertTestApp {
  t: TestApp;
  app: Express;
  clock: TestClock;
  /** The real alert engine of the app under test. */
  commands: AlertService;
  close(): Promise<void>;
}

/** The real app (composition root, models, Redis, alert engine, stream) on a test clock. */
export async function buildAlertTestApp(file: string, env: Record<string, string> = {}): Promise<AlertTestApp> {
  const clock = new TestClock();
  const t = await buildTestApp(file, { ...ROUTE_TEST_ENV, ...env }, { now: clock.now });
  return { t, app: t.app, clock, commands: t.container.deps.operations.alerts, close: () => t.close() };
}

/** One Server-Sent Event as a client parses it. */
export interface ReceivedEvent {
  id?: string;
  event?: string;
  data: string;
}

/**
 * A real SSE client: a node:http request whose body is parsed as it arrives (events and
 * `:` comments), not buffered until the end like supertest's.
 */
export class SseClient {
  readonly events: ReceivedEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  ended = false;
  private req: http.ClientRequest | null = null;
  private buffer = '';

  /** Resolves with the response head; events keep arriving into `events`. */
  open(url: string, headers: Record<string, string>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.parse(chunk));
        res.on('end', () => (this.ended = true));
        res.on('close', () => (this.ended = true));
        resolve();
      });
      this.req.on('error', (err) => (this.status ? (this.ended = true) : reject(err)));
    });
  }

  /** The last event id received: what a browser sends as Last-Event-ID when it reconnects. */
  get lastEventId(): string | undefined {
    return [...this.events].reverse().find((e) => e.id)?.id;
  }

  close(): void {
    this.req?.destroy();
  }

  private parse(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event: ReceivedEvent = { data: '' };
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('id: ')) [event.id, isEvent] = [line.slice(4), true];
        else if (line.startsWith('event: ')) [event.event, isEvent] = [line.slice(7), true];
        else if (line.startsWith('data: ')) [event.data, isEvent] = [event.data + line.slice(6), true];
      }
      if (isEvent) this.events.push(event);
    }
  }
}

/** Listens on a free loopback port; returns the base URL and a stop that also ends open streams. */
export async function listen(app: Express): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
