/**
 * A second application process for the cross-process alert tests: builds the real container
 * from its environment, prints `ready`, waits for `go` on stdin, raises ALERT_COUNT identical
 * alerts at once, prints `done <json of results>` and stops.
 */
import { createInterface } from 'node:readline';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { createContainer } from '../../src/container';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const container = createContainer(config, createLogger({ level: 'silent' }));
  await container.start();
  const count = Number(process.env.ALERT_COUNT ?? '50');
  process.stdout.write('ready\n');
  const rl = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => rl.once('line', () => resolve()));
  rl.close();
  const results = await Promise.all(
    Array.from({ length: count }, () =>
      container.deps.operations.alerts.raise({
        source: 'system',
        kind: 'storm',
        subject: process.env.ALERT_SUBJECT ?? 'x',
        severity: 'error',
        title: 'Storm',
        message: 'The same alert from every worker at once.',
      }),
    ),
  );
  process.stdout.write(`done ${JSON.stringify(results.map((r) => ({ id: r.id, created: r.created })))}\n`);
  await container.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
