import { buildAlertTestApp, listen, SseClient, type AlertTestApp } from '../../support/alerts';
import { testMongoUri, testRedisUrl } from '../../support/env';
import { runTs, waitFor } from '../../support/process';
import { bearer, createUser, mfaSession } from '../../support/users';

/** Process A (a child node process with its own container) raises; this process (B) serves the stream. */
describe('alert stream across processes', () => {
  let b: AlertTestApp;
  let server: { url: string; stop: () => Promise<void> };
  let auth: Record<string, string>;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    b = await buildAlertTestApp(__filename);
    server = await listen(b.app);
    const [name, value] = bearer(await mfaSession(b.t, await createUser(b.t, 'ops@cross.example', 'admin')));
    auth = { [name]: value };
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.stop();
    await b.close();
  });

  const raiseInOtherProcess = async (subject: string): Promise<string> => {
    const child = runTs(
      'tests/support/alert-raise-process.ts',
      {
        NODE_ENV: 'test',
        MONGODB_URI: testMongoUri(b.t.dbName),
        REDIS_URL: testRedisUrl(),
        REDIS_KEY_PREFIX: b.t.redisPrefix,
        MONGODB_MIN_POOL_SIZE: '1',
        LOG_LEVEL: 'warn',
      },
      [subject],
    );
    const code = await child.exited;
    if (code !== 0) throw new Error(`raiser process failed (${code}): ${child.stderr()}`);
    const m = /raised (\S+)/.exec(child.stdout());
    if (!m) throw new Error(`raiser printed no id: ${child.stdout()}`);
    return m[1];
  };

  it('when process A raises an alert, then a client connected to process B receives it; a later resume replays it', async () => {
    const c = new SseClient();
    clients.push(c);
    await c.open(`${server.url}/api/v1/alerts/stream`, auth);
    expect(c.status).toBe(200);

    const id = await raiseInOtherProcess('cross-1');
    await waitFor(() => c.events.length === 1, 20_000, 'the event from the other process');
    expect(c.events[0].event).toBe('raised');
    expect(JSON.parse(c.events[0].data)).toMatchObject({ id, severity: 'critical', status: 'open' });
    const resumeFrom = c.lastEventId!;
    c.close();

    // While nobody listens on B, A raises again: B's replay on reconnect carries it.
    const missed = await raiseInOtherProcess('cross-2');
    const again = new SseClient();
    clients.push(again);
    await again.open(`${server.url}/api/v1/alerts/stream`, { ...auth, 'Last-Event-ID': resumeFrom });
    await waitFor(() => again.events.length === 1, 20_000, 'the replayed event');
    expect(JSON.parse(again.events[0].data)).toMatchObject({ id: missed });
  }, 90_000);
});
