import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envSchema } from '../../src/config';
import { AppMetrics } from '../../src/services/health/metrics';
import { buildTestApp } from '../support/app';

const ROOT = path.resolve(__dirname, '../..');
const doc = readFileSync(path.join(ROOT, 'docs/MONITORING.md'), 'utf8');

function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is not installed (bash scripts/ensure-test-tools.sh): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('docs/MONITORING.md and docs/prometheus', () => {
  it('when promtool checks the example alert rules and scrape config, then both are valid', () => {
    const rules = promtool(['check', 'rules', path.join(ROOT, 'docs/prometheus/alert-rules.yml')]);
    expect(rules.output).toMatch(/SUCCESS: 8 rules found/);
    expect(rules.status).toBe(0);

    // The example points at /etc/prometheus; check it against a token file that exists here.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'erp-promcfg-'));
    try {
      writeFileSync(path.join(dir, 'token'), 'x'.repeat(32));
      writeFileSync(
        path.join(dir, 'alert-rules.yml'),
        readFileSync(path.join(ROOT, 'docs/prometheus/alert-rules.yml')),
      );
      const config = readFileSync(path.join(ROOT, 'docs/prometheus/prometheus.yml'), 'utf8').replace(
        '/etc/prometheus/erp-metrics.token',
        path.join(dir, 'token'),
      );
      writeFileSync(path.join(dir, 'prometheus.yml'), config);
      const checked = promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect(checked.output).toMatch(/SUCCESS/);
      expect(checked.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('when a health or metrics variable exists in config, then the document lists it', () => {
    const names = Object.keys(envSchema.shape).filter((k) => /^(HEALTH_|METRICS_)/.test(k));
    expect(names.length).toBeGreaterThan(15);
    expect(names.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it('when the app exposes a metric family of its own, then the document lists it', async () => {
    const text = await new AppMetrics().render();
    const own = [...text.matchAll(/^# TYPE ((?:erp|http)_\w+) /gm)].map((m) => m[1]);
    expect(own.length).toBeGreaterThanOrEqual(7);
    expect(own.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it('when the app samples its checks, then every check it reports is documented', async () => {
    const t = await buildTestApp(__filename, { HEALTH_SAMPLE_INTERVAL_MS: '3600000' });
    try {
      const keys = Object.keys(t.container.deps.operations.health.report().checks);
      expect(keys.length).toBeGreaterThan(10);
      expect(keys.filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
