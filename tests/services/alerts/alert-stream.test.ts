import { buildAlertTestApp, listen, SseClient, type AlertTestApp } from '../../support/alerts';
import { waitFor } from '../../support/wait';
import { bearer, createUser, mfaSession } from '../../support/users';
import type { AlertInput } from '../../../src/services/alerts/alert-raiser';

const input = (subject: string): AlertInput => ({
  source: 'system',
  kind: 'stream.test',
  subject,
  severity: 'warning',
  title: `Alert ${subject}`,
  message: 'Something needs a look.',
});

describe('GET /api/v1/alerts/stream: live alerts over Server-Sent Events', () => {
  let a: AlertTestApp;
  let server: { url: string; stop: () => Promise<void> };
  let auth: Record<string, string>;
  const clients: SseClient[] = [];

  const connect = async (headers: Record<string, string> = {}): Promise<SseClient> => {
    const c = new SseClient();
    clients.push(c);
    await c.open(`${server.url}/api/v1/alerts/stream`, { ...auth, ...headers });
    return c;
  };

  beforeAll(async () => {
    a = await buildAlertTestApp(__filename, { ALERT_STREAM_HEARTBEAT_MS: '100' });
    server = await listen(a.app);
    const [name, value] = bearer(await mfaSession(a.t, await createUser(a.t, 'ops@stream.example', 'admin')));
    auth = { [name]: value };
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await server.stop();
    await a.close();
  });

  it('when an alert is raised, then a connected client receives it as an event named after the change, with stream headers', async () => {
    const c = await connect();
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(c.headers['cache-control']).toBe('no-store');
    expect(c.headers['x-accel-buffering']).toBe('no');
    expect(c.headers['content-encoding']).toBeUndefined();

    const raised = await a.commands.raise(input('live-1'));
    await waitFor(() => c.events.length === 1, 10_000, 'the raised event');
    const [event] = c.events;
    expect(event.event).toBe('raised');
    expect(event.id).toEqual(expect.any(String));
    expect(JSON.parse(event.data)).toMatchObject({
      id: raised.id,
      status: 'open',
      severity: 'warning',
      title: 'Alert live-1',
      occurrences: 1,
    });
    expect(JSON.parse(event.data)).not.toHaveProperty('openKey');
  });

  it('when nothing happens, then heartbeat comments keep arriving at the configured interval', async () => {
    const c = await connect();
    await waitFor(() => c.comments.filter((x) => x === 'hb').length >= 2, 10_000, 'two heartbeats');
    expect(c.events).toEqual([]);
  });

  it('when a client reconnects with Last-Event-ID, then it receives every change it missed once, then live ones', async () => {
    const first = await connect();
    const kept = await a.commands.raise(input('resume-seen'));
    await waitFor(() => first.events.length === 1, 10_000, 'the first event');
    first.close();
    await waitFor(() => a.t.container.deps.operations.alertStream.clientCount === 0, 10_000, 'the server to drop it');

    // Missed while away: a new alert, a repeat and an acknowledgement of the same one, and a resolved one.
    a.clock.advance(1_000);
    const missedA = await a.commands.raise(input('resume-missed-a'));
    a.clock.advance(1_000);
    await a.commands.raise(input('resume-missed-a'));
    a.clock.advance(1_000);
    const missedB = await a.commands.raise(input('resume-missed-b'));
    a.clock.advance(1_000);
    await a.commands.resolve(kept.id, { id: 'u1', role: 'admin' }, 'fixed');

    const again = await connect({ 'Last-Event-ID': first.lastEventId! });
    await waitFor(() => again.events.length >= 3, 10_000, 'the replay');
    a.clock.advance(1_000);
    const live = await a.commands.raise(input('resume-live'));
    await waitFor(() => again.events.length >= 4, 10_000, 'the live event after the replay');
    // Give stray duplicates a chance to show up before counting.
    await new Promise((r) => setTimeout(r, 300));

    const seen = again.events.map((e) => ({ type: e.event, id: (JSON.parse(e.data) as { id: string }).id }));
    expect(seen).toEqual([
      { type: 'repeated', id: missedA.id },
      { type: 'raised', id: missedB.id },
      { type: 'resolved', id: kept.id },
      { type: 'raised', id: live.id },
    ]);
    expect(new Set(again.events.map((e) => e.id)).size).toBe(again.events.length);
    expect(JSON.parse(again.events[0].data)).toMatchObject({ occurrences: 2 });
    expect(JSON.parse(again.events[2].data)).toMatchObject({ status: 'resolved', resolveComment: 'fixed' });
  });

  it('when changes happen while the replay runs, then the switch to live loses and repeats none', async () => {
    const anchor = new SseClient();
    clients.push(anchor);
    await anchor.open(`${server.url}/api/v1/alerts/stream`, auth);
    a.clock.advance(1_000);
    await a.commands.raise(input('race-anchor'));
    await waitFor(() => anchor.events.length === 1, 10_000, 'the anchor event');
    anchor.close();

    const before: string[] = [];
    for (let i = 0; i < 30; i++) {
      a.clock.advance(10);
      before.push((await a.commands.raise(input(`race-before-${i}`))).id);
    }
    // Connect and keep raising at the same time: each alert arrives once, through the replay or live.
    const resumed = connect({ 'Last-Event-ID': anchor.lastEventId! });
    const during: string[] = [];
    for (let i = 0; i < 30; i++) {
      a.clock.advance(10);
      during.push((await a.commands.raise(input(`race-during-${i}`))).id);
    }
    const c = await resumed;
    await waitFor(() => c.events.length >= 60, 15_000, 'all 60 alerts');
    await new Promise((r) => setTimeout(r, 300));
    const ids = c.events.map((e) => (JSON.parse(e.data) as { id: string }).id);
    expect(ids.length).toBe(60);
    expect(new Set(ids)).toEqual(new Set([...before, ...during]));
  });

  it('when the Last-Event-ID is not one the stream issued, then 400 problem+json before any stream opens', async () => {
    const c = await connect({ 'Last-Event-ID': 'not-a-cursor!' });
    expect(c.status).toBe(400);
    expect(c.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('when the client goes away, then the server forgets it; when the stream stops, open clients are ended', async () => {
    const stream = a.t.container.deps.operations.alertStream;
    const c = await connect();
    await waitFor(() => stream.clientCount === 1, 10_000, 'the client to register');
    c.close();
    await waitFor(() => stream.clientCount === 0, 10_000, 'the client to be dropped');

    const d = await connect();
    await waitFor(() => stream.clientCount === 1, 10_000, 'the second client');
    await stream.stop();
    await waitFor(() => d.ended, 10_000, 'the stream to end');
    expect(stream.clientCount).toBe(0);
  });
});
