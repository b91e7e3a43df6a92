import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { waitFor } from '../support/wait';
import { bearer, createUser, mfaSession } from '../support/users';
import { freePort } from '../../scripts/local-services';

const TOKEN = 'metrics-token-for-tests-0123456789';
const auth = (): [string, string] => ['Authorization', `Bearer ${TOKEN}`];

/** promtool reads the exposition from stdin; its verdict is the exit status plus what it prints. */
function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is not installed (bash scripts/ensure-test-tools.sh): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('GET /metrics', () => {
  let t: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    t = await buildTestApp(__filename, {
      BCRYPT_COST: '10',
      METRICS_TOKEN: TOKEN,
      HEALTH_SAMPLE_INTERVAL_MS: '3600000',
      RATE_LIMIT_GENERAL: '3/60',
      // The gauge below is read as "pass" (0): a loaded test machine must not push the
      // database's answer time past a warning threshold (a CI run saw 1, warn).
      HEALTH_DB_LATENCY_MS: '30000/60000',
    });
    adminToken = await mfaSession(t, await createUser(t, 'admin@metrics.example', 'admin'));
  });
  afterAll(() => t.close());

  it('when the bearer token is missing or wrong, then 401 with a Bearer challenge and no metrics', async () => {
    for (const header of [undefined, 'Bearer wrong-token-wrong-token-wrong', `Basic ${TOKEN}`]) {
      const req = request(t.app).get('/metrics');
      const res = header ? await req.set('Authorization', header) : await req;
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(res.text).not.toContain('http_request_duration_seconds');
    }
  });

  it('when scraped, then Prometheus text that passes promtool check metrics, with routes as patterns and every family', async () => {
    await request(t.app)
      .get('/api/v1/employees/00000000-0000-4000-8000-00000000abcd')
      .set(...bearer(adminToken));
    // The general tier allows 3 anonymous requests a minute: the fourth is refused.
    for (let i = 0; i < 4; i++) await request(t.app).get('/api/v1/employees');
    t.container.deps.operations.metrics.alertRaised('critical');
    t.container.deps.operations.metrics.backupFinished('success', new Date('2026-01-02T03:04:05Z'));
    const res = await request(t.app)
      .get('/metrics')
      .set(...auth());
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text;
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    expect(text).toMatch(
      /^http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/employees\/:id",status_code="\d{3}"\} 1$/m,
    );
    expect(text).not.toContain('00000000abcd');
    expect(text).toMatch(/^erp_health_check_status\{check="mongodb:responseTime"\} 0$/m);
    expect(text).toMatch(/^erp_health_check_observed_value\{check="mongodb:responseTime",unit="ms"\} [\d.]+$/m);
    expect(text).toMatch(/^erp_rate_limit_rejections_total\{tier="general"\} 1$/m);
    expect(text).toMatch(/^erp_alerts_raised_total\{severity="critical"\} 1$/m);
    expect(text).toMatch(/^erp_backups_total\{result="success"\} 1$/m);
    expect(text).toMatch(/^erp_backup_last_success_timestamp_seconds 1767323045$/m);

    const check = promtool(['check', 'metrics'], text);
    expect(check.output).toBe('');
    expect(check.status).toBe(0);
  });

  it('when METRICS_TOKEN is not configured, then /metrics does not exist', async () => {
    const plain = await buildTestApp(__filename, { HEALTH_SAMPLE_INTERVAL_MS: '3600000' });
    try {
      const res = await request(plain.app)
        .get('/metrics')
        .set(...auth());
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
    }
  });

  describe('scraped by a real Prometheus server', () => {
    let server: http.Server;
    let prometheus: ChildProcess;
    let promPort: number;
    let dir: string;

    beforeAll(async () => {
      server = http.createServer(t.app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const appPort = (server.address() as AddressInfo).port;
      promPort = await freePort();
      dir = mkdtempSync(path.join(os.tmpdir(), 'erp-prometheus-'));
      writeFileSync(path.join(dir, 'token'), TOKEN);
      writeFileSync(
        path.join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          'scrape_configs:',
          '  - job_name: erp-backend',
          '    metrics_path: /metrics',
          '    authorization:',
          `      credentials_file: ${path.join(dir, 'token')}`,
          '    static_configs:',
          `      - targets: ['127.0.0.1:${appPort}']`,
          '',
        ].join('\n'),
      );
      prometheus = spawn(
        'prometheus',
        [
          `--config.file=${path.join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${path.join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
          '--log.level=warn',
        ],
        { stdio: 'ignore' },
      );
    });
    afterAll(async () => {
      if (prometheus.exitCode === null) {
        const exited = new Promise((r) => prometheus.once('exit', r));
        prometheus.kill('SIGTERM');
        await exited;
      }
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    });

    const query = async (
      promql: string,
    ): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`).catch(
        () => undefined,
      );
      if (!res?.ok) return [];
      const body = (await res.json()) as {
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      return body.data.result;
    };

    it('when the test makes a request, then the query API returns its duration histogram and the health gauges', async () => {
      const port = (server.address() as AddressInfo).port;
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(ready.status).toBe(200);
      await waitFor(
        async () =>
          (await query('http_request_duration_seconds_count{route="/health/ready",status_code="200"}')).some(
            (r) => Number(r.value[1]) >= 1,
          ),
        60_000,
        'Prometheus to have scraped the /health/ready request',
        250,
      );
      const buckets = await query('http_request_duration_seconds_bucket{route="/health/ready",le="+Inf"}');
      expect(buckets[0].metric).toMatchObject({ job: 'erp-backend', method: 'GET', status_code: '200' });
      const gauges = await query('erp_health_check_status');
      const checks = gauges.map((g) => g.metric.check);
      expect(checks).toEqual(expect.arrayContaining(['mongodb:responseTime', 'redis:responseTime', 'system:disk']));
      const up = await query('up{job="erp-backend"}');
      expect(up[0].value[1]).toBe('1');
    }, 90_000);
  });
});
