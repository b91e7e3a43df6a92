/**
 * A second process for the cross-process stream test: builds its own container (its own
 * MongoDB and Redis connections) from the environment, raises one alert whose subject is
 * argv[2], prints `raised <id>` and exits. Run with tests/support/process.ts runTs.
 */
import { loadConfig } from '../../src/config';
import { createContainer } from '../../src/container';
import { createLogger } from '../../src/lib/logger';

async function main(): Promise<void> {
  const config = loadConfig();
  const container = createContainer(config, createLogger({ level: 'warn' }));
  await container.start();
  const raised = await container.deps.operations.alerts.raise({
    source: 'system',
    kind: 'cross-process.test',
    subject: process.argv[2] ?? 'unnamed',
    severity: 'critical',
    title: `Raised in process ${process.pid}`,
    message: 'Raised by another process than the one serving the stream.',
  });
  process.stdout.write(`raised ${raised.id}\n`);
  await container.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
