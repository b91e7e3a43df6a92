import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CommandStartedEvent } from 'mongodb';
import { buildTestApp, type TestApp } from '../support/app';

/** Commands the app's MongoDB client sends, counted from the driver's command monitoring events. */
function countCommands(t: TestApp): { names: string[] } {
  const client = t.container.database.connection.getClient();
  const seen = { names: [] as string[] };
  client.on('commandStarted', (ev: CommandStartedEvent) => seen.names.push(ev.commandName));
  return seen;
}

function get(port: number, path: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

describe('health polling costs no database traffic', () => {
  let t: TestApp;
  let server: http.Server;
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      HEALTH_SAMPLE_INTERVAL_MS: '3600000',
      // No threshold alert in this test's few samples: a raise would add its own writes to one sample.
      HEALTH_ALERT_AFTER_SAMPLES: '100',
      // Commands are only observed when the client was created monitoring them.
      MONGODB_MONITOR_COMMANDS: 'true',
    });
    server = http.createServer(t.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await t.close();
  });

  it('when /health is polled 10,000 times, then MongoDB sees only the commands of the sampler’s own samples', async () => {
    // The alert outbox worker polls MongoDB on its own schedule, and start() leaves the restore
    // recovery check running (it takes the backup lease): neither is what this test measures.
    await t.container.alertDelivery.stop();
    await t.container.startupSettled();
    const seen = countCommands(t);
    const health = t.container.deps.operations.health;
    // What one sample costs, measured the same way.
    await health.sampleNow();
    const perSample = seen.names.length;
    expect(perSample).toBeGreaterThan(0);
    expect(seen.names).toContain('ping');

    seen.names.length = 0;
    const port = (server.address() as AddressInfo).port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    let ok = 0;
    for (let batch = 0; batch < 500; batch++) {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => get(port, '/health', agent)));
      ok += statuses.filter((s) => s === 200 || s === 503).length;
    }
    agent.destroy();
    expect(ok).toBe(10_000);
    // Polling added nothing; a sample that happened meanwhile would be the sampler's own.
    expect(seen.names).toEqual([]);

    await health.sampleNow();
    expect(seen.names.length).toBe(perSample);
  }, 120_000);
});
