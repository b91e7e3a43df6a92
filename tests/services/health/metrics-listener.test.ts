import { freePort } from '../../../scripts/local-services';
import { childEnv, testNamespace } from '../../support/env';
import { runTs } from '../../support/process';
import { waitFor } from '../../support/wait';

const TOKEN = 'internal-metrics-token-0123456789';

describe('internal metrics listener (METRICS_HOST/METRICS_PORT)', () => {
  it('when the server runs with METRICS_PORT, then that port serves only /metrics (token required), and the process still stops cleanly', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const ns = testNamespace(__filename);
    const proc = runTs(
      'src/server.ts',
      childEnv(ns, { PORT: String(port), METRICS_PORT: String(metricsPort), METRICS_TOKEN: TOKEN }),
    );
    try {
      await waitFor(() => proc.stdout().includes('erp-backend listening'), 120_000, 'server to listen');
      expect(proc.stdout()).toContain(`"address":"127.0.0.1:${metricsPort}"`);
      const internal = `http://127.0.0.1:${metricsPort}`;
      await fetch(`http://127.0.0.1:${port}/health/live`);

      const ok = await fetch(`${internal}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await ok.text()).toMatch(
        /^http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_code="200"\} 1$/m,
      );

      const noToken = await fetch(`${internal}/metrics`);
      expect(noToken.status).toBe(401);
      expect(await noToken.text()).not.toContain('http_request');
      expect((await fetch(`${internal}/health`)).status).toBe(404);
      expect(
        (await fetch(`${internal}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status,
      ).toBe(405);
    } finally {
      proc.child.kill('SIGTERM');
    }
    expect(await proc.exited).toBe(0);
    expect(proc.stdout()).toContain('shutdown complete');
  }, 180_000);
});
