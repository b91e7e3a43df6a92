import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import { AppError } from '../../src/lib/errors';
import type { Models } from '../../src/models';
import type { AlertChannel, AlertDeliveryDoc, AlertDoc } from '../../src/models/alert.model';
import type { AlertActor, AlertCommands } from '../../src/services/alerts/alert-commands';
import type {
  AlertChange,
  AlertChangePublisher,
  AlertInput,
  RaisedAlert,
} from '../../src/services/alerts/alert-raiser';
import { buildTestApp, ROUTE_TEST_ENV, TestClock, type TestApp } from './app';

/**
 * A small real AlertCommands over the real models, for the API and stream tests until the
 * alert engine (AlertService) is merged: it stores and changes alerts the way the contract
 * says (changedAt on every change, 404/409 problems) and announces each change. It sends
 * nothing; deliveries are records the tests insert.
 */
export class TestAlertCommands implements AlertCommands {
  constructor(
    private readonly deps: {
      models: Pick<Models, 'Alert' | 'AlertDelivery'>;
      publisher: AlertChangePublisher;
      now: () => Date;
    },
  ) {}

  async raise(input: AlertInput): Promise<RaisedAlert> {
    const fingerprint = createHash('sha256')
      .update(`${input.source}\n${input.kind}\n${input.subject ?? ''}`)
      .digest('hex');
    const now = this.deps.now();
    const open = await this.deps.models.Alert.findOne({ openKey: fingerprint }).lean<AlertDoc>().exec();
    if (open) {
      await this.deps.models.Alert.updateOne(
        { _id: open._id },
        { $set: { occurrences: open.occurrences + 1, lastSeenAt: now, changedAt: now, version: open.version + 1 } },
      ).exec();
      await this.announce('repeated', open._id);
      return { id: open._id, fingerprint, created: false, occurrences: open.occurrences + 1 };
    }
    const id = randomUUID();
    await this.deps.models.Alert.create({
      _id: id,
      fingerprint,
      openKey: fingerprint,
      severity: input.severity,
      source: input.source,
      kind: input.kind,
      subject: input.subject ?? null,
      title: input.title,
      message: input.message,
      details: input.details ?? {},
      firstSeenAt: now,
      lastSeenAt: now,
      changedAt: now,
    });
    await this.announce('raised', id);
    return { id, fingerprint, created: true, occurrences: 1 };
  }

  async acknowledge(id: string, actor: AlertActor, comment?: string): Promise<AlertDoc> {
    const a = await this.find(id);
    if (a.status !== 'open') throw AppError.conflict(`The alert is ${a.status}.`, 'alert-not-open');
    return this.change(a, 'acknowledged', {
      status: 'acknowledged',
      acknowledgedBy: actor.id,
      acknowledgedAt: this.deps.now(),
      acknowledgeComment: comment ?? null,
    });
  }

  async resolve(id: string, actor: AlertActor, comment?: string): Promise<AlertDoc> {
    const a = await this.find(id);
    if (a.status === 'resolved') throw AppError.conflict('The alert is already resolved.', 'alert-resolved');
    return this.change(a, 'resolved', {
      status: 'resolved',
      openKey: `resolved:${a._id}`,
      resolvedBy: actor.id,
      resolvedAt: this.deps.now(),
      resolveComment: comment ?? null,
    });
  }

  async sendTest(channels: AlertChannel[], actor: AlertActor): Promise<AlertDoc> {
    const raised = await this.raise({
      source: 'custom',
      kind: 'alert.test',
      subject: randomUUID(),
      severity: 'info',
      title: 'Test alert',
      message: `Test alert requested by ${actor.id}.`,
    });
    const now = this.deps.now();
    await this.deps.models.AlertDelivery.insertMany(
      channels.map((channel) => ({
        _id: randomUUID(),
        alertId: raised.id,
        channel,
        recipient: channel === 'dashboard' ? 'dashboard' : `${channel}-recipient`,
        purpose: 'test',
        nextAttemptAt: now,
      })),
    );
    return this.find(raised.id);
  }

  async deliveriesOf(alertId: string): Promise<AlertDeliveryDoc[]> {
    return this.deps.models.AlertDelivery.find({ alertId }).sort({ createdAt: 1 }).lean<AlertDeliveryDoc[]>().exec();
  }

  private async find(id: string): Promise<AlertDoc> {
    const a = await this.deps.models.Alert.findById(id).lean<AlertDoc>().exec();
    if (!a) throw AppError.notFound('No alert with this id.');
    return a;
  }

  private async change(a: AlertDoc, type: AlertChange['type'], set: Partial<AlertDoc>): Promise<AlertDoc> {
    const now = this.deps.now();
    await this.deps.models.Alert.updateOne(
      { _id: a._id },
      { $set: { ...set, changedAt: now, version: a.version + 1 } },
    );
    await this.announce(type, a._id);
    return this.find(a._id);
  }

  private announce(type: AlertChange['type'], alertId: string): Promise<void> {
    return this.deps.publisher.publish({ type, alertId });
  }
}

export interface AlertTestApp {
  t: TestApp;
  app: Express;
  clock: TestClock;
  commands: TestAlertCommands;
  close(): Promise<void>;
}

/** The real app (composition root, models, Redis, stream) with TestAlertCommands as its alert engine. */
export async function buildAlertTestApp(file: string, env: Record<string, string> = {}): Promise<AlertTestApp> {
  const clock = new TestClock();
  const t = await buildTestApp(file, { ...ROUTE_TEST_ENV, ...env }, { now: clock.now });
  const ops = t.container.deps.operations;
  const commands = new TestAlertCommands({ models: t.container.models, publisher: ops.alertStream, now: clock.now });
  const app = createApp({ ...t.container.deps, operations: { ...ops, alerts: commands } });
  return { t, app, clock, commands, close: () => t.close() };
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
