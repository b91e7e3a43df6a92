import { randomUUID } from 'node:crypto';
import { buildAlertTestApp, listen, SseClient, type AlertTestApp } from '../../support/alerts';
import { waitFor } from '../../support/wait';
import { bearer, createUser, mfaSession } from '../../support/users';
import { encodeCursor } from '../../../src/services/alerts/alert-cursor';

const STORED = 1_234;

describe('alert stream replay of a large backlog', () => {
  let a: AlertTestApp;
  let server: { url: string; stop: () => Promise<void> };
  let auth: Record<string, string>;
  const clients: SseClient[] = [];

  beforeAll(async () => {
    a = await buildAlertTestApp(__filename);
    server = await listen(a.app);
    const [name, value] = bearer(await mfaSession(a.t, await createUser(a.t, 'ops@replay.example', 'admin')));
    auth = { [name]: value };
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.stop();
    await a.close();
  });

  it('when a client resumes from before more alerts than one replay batch, then it gets each once, in (changedAt, id) order', async () => {
    const base = Date.parse('2026-01-01T00:00:00Z');
    // Pairs share a changedAt, so the order within equal times (by id) is exercised at every step.
    const docs = Array.from({ length: STORED }, (_, i) => {
      const at = new Date(base + Math.floor(i / 2) * 1_000);
      const id = randomUUID();
      return {
        _id: id,
        fingerprint: id,
        openKey: id,
        severity: 'info' as const,
        source: 'custom' as const,
        kind: 'replay.test',
        subject: String(i),
        title: `Backlog ${i}`,
        message: 'x'.repeat(500),
        firstSeenAt: at,
        lastSeenAt: at,
        changedAt: at,
      };
    });
    for (let i = 0; i < docs.length; i += 200) await a.t.container.models.Alert.insertMany(docs.slice(i, i + 200));
    const expected = [...docs]
      .sort((x, y) => x.changedAt.getTime() - y.changedAt.getTime() || (x._id < y._id ? -1 : 1))
      .map((d) => d._id);
    // Resume from just after the first stored alert.
    const first = expected[0];
    const firstAt = docs.find((d) => d._id === first)!.changedAt;

    const c = new SseClient();
    clients.push(c);
    await c.open(`${server.url}/api/v1/alerts/stream`, {
      ...auth,
      'Last-Event-ID': encodeCursor({ at: firstAt, id: first }),
    });
    await waitFor(() => c.events.length >= STORED - 1, 60_000, 'the whole backlog');
    await new Promise((r) => setTimeout(r, 200));
    expect(c.events.map((e) => (JSON.parse(e.data) as { id: string }).id)).toEqual(expected.slice(1));
    expect(new Set(c.events.map((e) => e.id)).size).toBe(STORED - 1);
    expect(c.events.every((e) => e.event === 'raised')).toBe(true);
  }, 120_000);
});
