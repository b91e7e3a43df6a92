import { freePort } from '../scripts/local-services';
import { buildTestApp, type TestApp } from './support/app';
import { SseClient } from './support/alerts';
import { childEnv } from './support/env';
import { runTs, waitFor } from './support/process';
import { bearer, createUser, mfaSession } from './support/users';

describe('server process with open alert streams', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await buildTestApp(__filename, { BCRYPT_COST: '10' });
  });
  afterAll(() => t.close());

  it('when SIGTERM arrives while dashboards are connected, then their streams end and the process exits 0 without waiting for the shutdown timeout', async () => {
    const [name, value] = bearer(await mfaSession(t, await createUser(t, 'ops@server-stream.example', 'admin')));
    const port = await freePort();
    const proc = runTs(
      'src/server.ts',
      childEnv(t, {
        PORT: String(port),
        // A stream that stayed open would hold the drain until this, then exit 1.
        SHUTDOWN_TIMEOUT_MS: '60000',
      }),
    );
    await waitFor(
      () => proc.stdout().includes('erp-backend listening') || proc.child.exitCode !== null,
      120_000,
      'server to listen',
    );
    const streams = [new SseClient(), new SseClient()];
    for (const s of streams) await s.open(`http://127.0.0.1:${port}/api/v1/alerts/stream`, { [name]: value });
    expect(streams.map((s) => s.status)).toEqual([200, 200]);

    const signalledAt = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(30_000);
    expect(proc.stdout()).toContain('shutdown complete');
    await waitFor(() => streams.every((s) => s.ended), 10_000, 'both streams to end');
  }, 180_000);
});
