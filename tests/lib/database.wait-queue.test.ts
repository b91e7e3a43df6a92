import net from 'node:net';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { testNamespace } from '../support/env';
import { createUser, mfaSession } from '../support/users';
import { waitFor } from '../support/wait';

/**
 * A TCP relay to the test's MongoDB that can hold back what clients send: a command sent
 * while it is stalled gets no answer (it keeps its pooled connection) until release().
 */
async function stallingRelay(
  target: URL,
): Promise<{ url: string; stall(): void; release(): void; close(): Promise<void> }> {
  let stalled = false;
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => (stalled ? held.push(() => upstream.write(chunk)) : upstream.write(chunk)));
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mongodb://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stall: () => {
      stalled = true;
    },
    release: () => {
      stalled = false;
      for (const send of held.splice(0)) send();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('MongoDB wait queue bound (MONGODB_WAIT_QUEUE_TIMEOUT_MS)', () => {
  let t: TestApp;
  let relay: Awaited<ReturnType<typeof stallingRelay>>;
  beforeAll(async () => {
    relay = await stallingRelay(new URL(process.env.TEST_MONGODB_URL!));
    t = await buildTestApp(__filename, {
      MONGODB_URI: `${relay.url}/${testNamespace(__filename).dbName}`,
      MONGODB_MIN_POOL_SIZE: '0',
      MONGODB_MAX_POOL_SIZE: '1',
      // Long enough for the first connection's handshake on a loaded machine.
      MONGODB_WAIT_QUEUE_TIMEOUT_MS: '2000',
    });
  });
  afterAll(async () => {
    relay.release();
    await t.close();
    await relay.close();
  });

  it('when the only pooled connection is busy longer than the bound, then the next request is answered 503 problem+json at once, and the first still completes', async () => {
    const token = await mfaSession(t, await createUser(t, 'admin@wait-queue.example', 'admin'));
    const auth = { Authorization: `Bearer ${token}` };
    expect(t.container.database.connection.getClient().options.waitQueueTimeoutMS).toBe(2000);

    // A first authenticated request caches the session's facts in Redis, so the two below
    // need the pool only for their one user read.
    expect((await request(t.app).get('/api/v1/auth/me').set(auth)).status).toBe(200);

    relay.stall();
    const first = request(t.app)
      .get('/api/v1/auth/me')
      .set(auth)
      .then((r) => r);
    await waitFor(() => t.container.database.pool.checkedOut === 1, 10_000, 'the first request to hold the connection');
    const started = Date.now();
    const second = await request(t.app).get('/api/v1/auth/me').set(auth);
    const waited = Date.now() - started;

    expect(second.status).toBe(503);
    expect(second.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(second.headers['retry-after']).toBe('2');
    expect(second.body).toMatchObject({
      status: 503,
      title: 'Service Unavailable',
      detail: expect.stringMatching(/busy/),
    });
    expect(JSON.stringify(second.body)).not.toMatch(/WaitQueue|stack|at /);
    // Bounded by the setting (2 s), with room for a loaded machine; never the socket timeout (45 s).
    expect(waited).toBeGreaterThanOrEqual(1_900);
    expect(waited).toBeLessThan(10_000);

    relay.release();
    expect((await first).status).toBe(200);
  }, 60_000);
});
