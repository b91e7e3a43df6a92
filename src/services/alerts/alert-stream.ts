import type { Request, Response } from 'express';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { duplicateRedis, type RedisClient } from '../../lib/redis';
import type { AlertDoc, AlertModel } from '../../models/alert.model';
import type { AlertChange, AlertChangePublisher } from './alert-raiser';
import { parseCursor, pastPosition } from './alert-cursor';
import { alertView, streamEventId } from './alert-view';

export interface AlertStreamDeps {
  /** The process's Redis client: publishes; the one subscriber connection is its duplicate (duplicateRedis). */
  redis: RedisClient;
  /** Pub/sub channel, under the configured key prefix (ioredis does not prefix channels). */
  channel: string;
  alerts: AlertModel;
  logger: Logger;
  /** Interval of the `: hb` keep-alive comment. */
  heartbeatMs: number;
  /** Most streams this process holds open. */
  maxClients: number;
  /**
   * Longest one stream stays open (the access-token lifetime): the client reconnects with a
   * fresh token, so a revoked session or a removed permission stops receiving within it.
   */
  maxLifetimeMs: number;
  /** Unsent bytes a slow client may accumulate before it is dropped (it resumes with Last-Event-ID). */
  maxBufferedBytes?: number;
}

const CHANGE_TYPES: ReadonlySet<AlertChange['type']> = new Set([
  'raised',
  'repeated',
  'acknowledged',
  'resolved',
  'delivery-failed',
]);
const REPLAY_BATCH = 500;
/** Event ids each stream remembers, to send each state of an alert once across replay and live. */
const SENT_MEMORY = 2_000;
/** Live events held for a stream while its replay runs; more means the replay cannot keep up. */
const MAX_PENDING = 10_000;
const SUBSCRIBE_TIMEOUT_MS = 5_000;

interface StreamEvent {
  id: string;
  type: string;
  data: string;
}

function eventOf(doc: AlertDoc, type: string): StreamEvent {
  return { id: streamEventId(doc), type, data: JSON.stringify(alertView(doc)) };
}

/** The change a stored state stands for, when replayed without the change that produced it. */
function replayTypeOf(doc: AlertDoc): AlertChange['type'] {
  if (doc.status === 'resolved') return 'resolved';
  if (doc.status === 'acknowledged') return 'acknowledged';
  return doc.occurrences > 1 ? 'repeated' : 'raised';
}

/** One connected browser: its response, what it was sent, and what waits while it replays. */
class StreamClient {
  replaying = true;
  private readonly pending: StreamEvent[] = [];
  private readonly sent = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    readonly res: Response,
    private readonly maxBufferedBytes: number,
    private readonly onDrop: (client: StreamClient, reason: string) => void,
  ) {}

  every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms));
  }

  after(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms));
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** Remembers an id the client already has (its Last-Event-ID). */
  remember(id: string): void {
    this.sent.add(id);
    if (this.sent.size > SENT_MEMORY) this.sent.delete(this.sent.values().next().value as string);
  }

  offer(event: StreamEvent): void {
    if (!this.replaying) return this.send(event);
    if (this.pending.length >= MAX_PENDING) return this.onDrop(this, 'replay backlog too long');
    this.pending.push(event);
  }

  /** Replay done: what arrived live meanwhile goes out, minus what the replay already carried. */
  goLive(): void {
    this.replaying = false;
    for (const event of this.pending.splice(0)) this.send(event);
  }

  send(event: StreamEvent): void {
    if (this.sent.has(event.id)) return;
    this.remember(event.id);
    this.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${event.data}\n\n`);
  }

  write(chunk: string): void {
    if (!this.open) return;
    this.res.write(chunk);
    // The replay waits for the socket instead (drained()); live events cannot wait for one slow reader.
    if (!this.replaying && this.res.writableLength > this.maxBufferedBytes) this.onDrop(this, 'client too slow');
  }

  /** Resolves once what was written has gone to the socket, or the client left. */
  drained(): Promise<void> {
    if (!this.open || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  end(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
    if (this.open) this.res.end();
  }
}

/**
 * The dashboard channel's live half: AlertService publishes each change on a Redis pub/sub
 * channel (FerretDB has no change streams), every process holds one subscriber connection
 * and relays the changed alert to the Server-Sent Events clients connected to it.
 *
 * Resume: an event's id is the alert's (changedAt, _id) cursor. A client reconnecting with
 * Last-Event-ID is registered (buffering live events) before its replay of the stored alerts
 * changed after that cursor runs, so a change is either in the replay or arrives live; both
 * are keyed by the same id, so none is sent twice.
 */
export class AlertStream implements AlertChangePublisher {
  private readonly clients = new Set<StreamClient>();
  private readonly log: Logger;
  private subscriber: RedisClient | null = null;
  private subscribing: Promise<void> | null = null;
  private subscribed = false;
  private relaying: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly deps: AlertStreamDeps) {
    this.log = deps.logger.child({ component: 'alert-stream' });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Never throws: a lost publish only delays dashboards until their next reconnect (they resume from the store). */
  async publish(change: AlertChange): Promise<void> {
    try {
      await this.deps.redis.publish(this.deps.channel, JSON.stringify(change));
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message }, change }, 'alert change not published');
    }
  }

  /**
   * Serves `GET /api/v1/alerts/stream` on this response until the client leaves, the
   * stream's lifetime ends or the process stops. Refusals before the stream opens are
   * AppErrors (problem+json): a bad Last-Event-ID, no subscription, too many clients.
   */
  async connect(req: Request, res: Response, lastEventId?: string): Promise<void> {
    const resumeFrom = lastEventId === undefined ? undefined : parseCursor(lastEventId, 'header.last-event-id');
    if (!this.closed) await this.ensureSubscribed();
    // Checked after the only wait, so concurrent connects cannot overshoot the cap or outlive stop().
    if (this.closed) throw AppError.serviceUnavailable('The server is shutting down.', undefined, 5);
    if (this.clients.size >= this.deps.maxClients)
      throw AppError.serviceUnavailable('Too many live alert streams on this server; retry shortly.', undefined, 5);

    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    // An open stream is not an idle or slow request.
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);

    const client = new StreamClient(res, this.deps.maxBufferedBytes ?? 1024 * 1024, (c, reason) =>
      this.drop(c, reason),
    );
    this.clients.add(client);
    res.on('close', () => this.drop(client));
    // The client may have left while the subscription was being set up: 'close' has fired already.
    if (req.socket.destroyed) return this.drop(client);
    client.every(this.deps.heartbeatMs, () => client.write(': hb\n\n'));
    client.after(this.deps.maxLifetimeMs, () => this.drop(client, 'lifetime reached'));
    client.write('retry: 3000\n\n');

    if (!resumeFrom) return client.goLive();
    client.remember(lastEventId as string);
    try {
      let from = resumeFrom;
      for (;;) {
        const docs = await this.deps.alerts
          .find(pastPosition('changedAt', from, 'asc'))
          .sort({ changedAt: 1, _id: 1 })
          .limit(REPLAY_BATCH)
          .lean<AlertDoc[]>()
          .exec();
        if (!client.open) return;
        for (const doc of docs) client.send(eventOf(doc, replayTypeOf(doc)));
        await client.drained();
        const last = docs[docs.length - 1];
        if (docs.length < REPLAY_BATCH || !last) break;
        from = { at: last.changedAt, id: last._id };
      }
      client.goLive();
    } catch (err) {
      // Headers are out: the only honest answer left is to close; the client resumes from its last id.
      this.log.error({ err: { message: (err as Error).message } }, 'alert stream replay failed');
      this.drop(client, 'replay failed');
    }
  }

  /** Ends every stream and the subscription (shutdown: before the HTTP server drains). */
  async stop(): Promise<void> {
    this.closed = true;
    for (const c of [...this.clients]) this.drop(c, 'shutdown');
    const sub = this.subscriber;
    this.subscriber = null;
    this.subscribed = false;
    if (sub) await sub.quit().catch(() => sub.disconnect());
  }

  /** Subscribes on first use, so processes without dashboards (CLI, jobs) hold no extra connection. */
  private async ensureSubscribed(): Promise<void> {
    if (this.subscribed) return;
    this.subscribing ??= this.subscribe().finally(() => (this.subscribing = null));
    await this.subscribing;
    if (!this.subscribed)
      throw AppError.serviceUnavailable('Live alerts are unavailable right now; retry shortly.', undefined, 5);
  }

  private async subscribe(): Promise<void> {
    if (!this.subscriber) {
      // Resubscribing is done here on 'ready', so we know when the subscription is live again.
      const sub = duplicateRedis(this.deps.redis, {
        enableOfflineQueue: true,
        autoResubscribe: false,
        // Named, so `CLIENT LIST` shows which connection holds the live alert streams.
        connectionName: `alert-stream:${this.deps.channel}`.replace(/\s/g, '_'),
      });
      sub.on('message', (channel: string, message: string) => {
        if (channel === this.deps.channel) this.onMessage(message);
      });
      sub.on('error', () => undefined); // the main client already logs Redis outages
      sub.on('close', () => {
        if (!this.subscribed) return;
        // Changes published while unsubscribed would be lost: clients reconnect and replay them.
        this.subscribed = false;
        this.log.warn({ clients: this.clients.size }, 'alert subscription lost; closing streams so they resume');
        for (const c of [...this.clients]) this.drop(c, 'subscription lost');
      });
      sub.on('ready', () => {
        if (!this.subscribed && !this.subscribing && !this.closed) void this.ensureSubscribed().catch(() => undefined);
      });
      this.subscriber = sub;
    }
    const sub = this.subscriber;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sub.subscribe(this.deps.channel),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('subscribe timed out')), SUBSCRIBE_TIMEOUT_MS);
        }),
      ]);
      this.subscribed = sub === this.subscriber;
    } catch (err) {
      this.log.error({ err: { message: (err as Error).message } }, 'alert subscription failed');
    } finally {
      clearTimeout(timer);
    }
  }

  private onMessage(message: string): void {
    let change: AlertChange;
    try {
      const parsed = JSON.parse(message) as Partial<AlertChange>;
      if (!parsed || !CHANGE_TYPES.has(parsed.type as AlertChange['type']) || typeof parsed.alertId !== 'string')
        throw new Error('not an alert change');
      change = { type: parsed.type as AlertChange['type'], alertId: parsed.alertId };
    } catch {
      this.log.warn('ignored a malformed alert change message');
      return;
    }
    // One at a time, in arrival order: each change is loaded once and fanned out to every client.
    this.relaying = this.relaying.then(() => this.relay(change)).catch(() => undefined);
  }

  private async relay(change: AlertChange): Promise<void> {
    if (this.clients.size === 0) return;
    try {
      const doc = await this.deps.alerts.findById(change.alertId).lean<AlertDoc>().exec();
      if (!doc) return; // removed by retention meanwhile
      const event = eventOf(doc, change.type);
      for (const c of this.clients) c.offer(event);
    } catch (err) {
      // Without this change the clients would have a gap: let them reconnect and replay from the store.
      this.log.error({ err: { message: (err as Error).message } }, 'alert change not relayed; closing streams');
      for (const c of [...this.clients]) this.drop(c, 'relay failed');
    }
  }

  private drop(client: StreamClient, reason?: string): void {
    if (!this.clients.delete(client)) return;
    if (reason) this.log.debug({ reason }, 'alert stream closed');
    client.end();
  }
}
