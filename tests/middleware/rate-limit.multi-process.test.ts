import http from 'node:http';
import { freePort } from '../../scripts/local-services';
import { childEnv, testNamespace } from '../support/env';
import { runTs, waitFor, type RunningProcess } from '../support/process';

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

describe('rate limits across processes', () => {
  const ns = testNamespace(__filename);
  const procs: RunningProcess[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      ports.push(port);
      procs.push(
        // One namespace for both: the processes count in the same Redis keys.
        runTs(
          'src/server.ts',
          childEnv(ns, {
            PORT: String(port),
            RATE_LIMIT_GENERAL: '10/600', // a window no loaded machine outlasts: this counts, it does not time
            LOG_LEVEL: 'info',
          }),
        ),
      );
    }
    await Promise.all(
      procs.map((p, i) =>
        waitFor(
          () => p.stdout().includes('erp-backend listening') || p.child.exitCode !== null,
          120_000,
          `server ${i}`,
        ),
      ),
    );
    for (const p of procs) if (!p.stdout().includes('listening')) throw new Error(p.stderr());
  }, 180_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
  });

  it('when two server processes share one Redis, then together they allow exactly the configured number per window for one client', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push(await get(ports[i % 2], '/api/v1/nowhere'));
    expect(statuses.filter((s) => s === 404)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    // Both processes admitted some and refused some: the count really is shared.
    const byProc = [0, 1].map((p) => statuses.filter((s, i) => i % 2 === p && s === 404).length);
    expect(byProc).toEqual([5, 5]);
  }, 120_000);
});
