import { createApp } from '../../../src/app';
import { AlertStream } from '../../../src/services/alerts/alert-stream';
import type { AlertInput } from '../../../src/services/alerts/alert-raiser';
import { freePort, startRedis, type LocalService } from '../../../scripts/local-services';
import { buildAlertTestApp, listen, SseClient, type AlertTestApp } from '../../support/alerts';
import { waitFor } from '../../support/wait';
import { bearer, createUser, mfaSession } from '../../support/users';

const input = (subject: string): AlertInput => ({
  source: 'system',
  kind: 'limits.test',
  subject,
  severity: 'error',
  title: `Alert ${subject}`,
  message: 'limits',
});

describe('alert stream limits: client cap, lifetime', () => {
  let a: AlertTestApp;
  let auth: Record<string, string>;
  const clients: SseClient[] = [];
  const servers: Array<{ stop: () => Promise<void> }> = [];

  beforeAll(async () => {
    a = await buildAlertTestApp(__filename, { ALERT_STREAM_MAX_CLIENTS: '1' });
    const [name, value] = bearer(await mfaSession(a.t, await createUser(a.t, 'ops@limits.example', 'admin')));
    auth = { [name]: value };
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop();
    await a.close();
  });
  const open = async (url: string, headers: Record<string, string> = {}): Promise<SseClient> => {
    const c = new SseClient();
    clients.push(c);
    await c.open(`${url}/api/v1/alerts/stream`, { ...auth, ...headers });
    return c;
  };

  it('when the process already holds its maximum of streams, then the next is 503 with Retry-After', async () => {
    const server = await listen(a.app);
    servers.push(server);
    const first = await open(server.url);
    expect(first.status).toBe(200);
    const second = await open(server.url);
    expect(second.status).toBe(503);
    expect(second.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(second.headers['retry-after'])).toBeGreaterThan(0);
    first.close();
    await waitFor(() => a.t.container.deps.operations.alertStream.clientCount === 0, 10_000, 'the slot to free');
    expect((await open(server.url)).status).toBe(200);
  });

  it('when a stream reaches its lifetime, then the server ends it and the client resumes where it was', async () => {
    const { deps, models } = a.t.container;
    const stream = new AlertStream({
      redis: a.t.container.redis,
      channel: `${a.t.config.redis.keyPrefix}alerts:changes`,
      alerts: models.Alert,
      logger: a.t.logger,
      heartbeatMs: 60_000,
      maxClients: 10,
      maxLifetimeMs: 1_000,
    });
    // The real engine publishes on the shared Redis channel, which this stream also listens to.
    const commands = deps.operations.alerts;
    const server = await listen(createApp({ ...deps, operations: { ...deps.operations, alertStream: stream } }));
    servers.push({ stop: async () => (await stream.stop(), await server.stop()) });

    const c = await open(server.url);
    const first = await commands.raise(input('lifetime-1'));
    await waitFor(() => c.events.length === 1, 10_000, 'the first event');
    await waitFor(() => c.ended, 10_000, 'the stream to end at its lifetime');
    expect(stream.clientCount).toBe(0);
    a.clock.advance(1_000);
    const second = await commands.raise(input('lifetime-2'));
    const resumed = await open(server.url, { 'Last-Event-ID': c.lastEventId! });
    await waitFor(() => resumed.events.length === 1, 10_000, 'the missed event');
    expect(JSON.parse(resumed.events[0].data)).toMatchObject({ id: second.id });
    expect(JSON.parse(c.events[0].data)).toMatchObject({ id: first.id });
  });
});

describe('alert stream when its Redis goes away and comes back', () => {
  let redis: LocalService;
  let port: number;
  let a: AlertTestApp;
  let server: { url: string; stop: () => Promise<void> };
  let auth: Record<string, string>;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis({ port });
    a = await buildAlertTestApp(__filename, { REDIS_URL: redis.url });
    server = await listen(a.app);
    const [name, value] = bearer(await mfaSession(a.t, await createUser(a.t, 'ops@outage.example', 'admin')));
    auth = { [name]: value };
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.stop();
    await a.close();
    await redis.stop?.();
  });
  const open = async (headers: Record<string, string> = {}): Promise<SseClient> => {
    const c = new SseClient();
    clients.push(c);
    await c.open(`${server.url}/api/v1/alerts/stream`, { ...auth, ...headers });
    return c;
  };

  it('when the subscription drops, then streams are closed, refused while down, and a resume after recovery misses nothing', async () => {
    const c = await open();
    expect(c.status).toBe(200);
    await a.commands.raise(input('outage-before'));
    await waitFor(() => c.events.length === 1, 10_000, 'the event before the outage');

    await redis.stop?.();
    await waitFor(() => c.ended, 15_000, 'the stream to close when its subscription is lost');
    a.clock.advance(1_000);
    // Raised while Redis is down: stored, its announcement lost.
    const during = await a.commands.raise(input('outage-during'));
    const refused = await open();
    expect(refused.status).toBe(503);

    redis = await startRedis({ port });
    let resumed: SseClient | undefined;
    await waitFor(
      async () => {
        const r = await open({ 'Last-Event-ID': c.lastEventId! });
        if (r.status === 200) resumed = r;
        else r.close();
        return r.status === 200;
      },
      30_000,
      'streams to be accepted again',
      250,
    );
    // The engine also raises (and on recovery resolves) its own `redis.down` alert: the stream carries
    // those too, so look for the test's alerts by id.
    const ids = (): string[] => resumed!.events.map((e) => (JSON.parse(e.data) as { id: string }).id);
    await waitFor(() => ids().includes(during.id), 10_000, 'the replay of the missed alert');
    expect(ids().filter((id) => id === during.id)).toHaveLength(1);
    // And live again: the subscription was renewed.
    a.clock.advance(1_000);
    const after = await a.commands.raise(input('outage-after'));
    await waitFor(() => ids().includes(after.id), 10_000, 'a live event after recovery');
    expect(ids().indexOf(after.id)).toBeGreaterThan(ids().indexOf(during.id));
  }, 90_000);
});

describe('alert stream and the general rate limit', () => {
  let a: AlertTestApp;
  let server: { url: string; stop: () => Promise<void> };
  let token: string;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    a = await buildAlertTestApp(__filename, { RATE_LIMIT_GENERAL: '3/600', ALERT_STREAM_HEARTBEAT_MS: '50' });
    server = await listen(a.app);
    token = await mfaSession(a.t, await createUser(a.t, 'ops@limited.example', 'admin'));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.stop();
    await a.close();
  });

  it('when a stream stays open through many heartbeats and events, then it counted as one request', async () => {
    const [name, value] = bearer(token);
    const c = new SseClient();
    clients.push(c);
    await c.open(`${server.url}/api/v1/alerts/stream`, { [name]: value });
    expect(c.status).toBe(200);
    for (let i = 0; i < 5; i++) await a.commands.raise(input(`limited-${i}`));
    await waitFor(() => c.events.length === 5 && c.comments.length >= 5, 10_000, 'events and heartbeats');
    const list = () => fetch(`${server.url}/api/v1/alerts?limit=1`, { headers: { [name]: value } });
    // Budget 3: the stream took one, two requests remain, the next is limited.
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(429);
  });
});
