/**
 * Issue 15 §4, soak: the real app (production mode, child process) under the mixed workload
 * for SOAK_DURATION_S seconds (default 600) at SOAK_RATE req/s (default: half the highest rate
 * that met the mixed target in bench/results/latest.json, else half the local database's
 * sustainable rate, support/sustainable-rate.ts) over SOAK_INVOICES invoices (default 1,000). Measured from outside the process every SOAK_SAMPLE_S seconds: RSS
 * (/proc/<pid>/status) and open file descriptors (/proc/<pid>/fd), and the Redis keys under
 * the app's prefix. After the warm-up (SOAK_WARMUP_S, default 120): RSS grows < 10% (the peak of
 * the GC sawtooth in the first third against the last third), open
 * handles do not grow, keys without an expiry stay a fixed set and the key count stays
 * bounded (everything else expires). No 5xx.
 * Short check: SOAK_DURATION_S=60 SOAK_WARMUP_S=20 SOAK_SAMPLE_S=2.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fdCount, ROOT, rssKb } from '../../bench/support/app-process';
import { runLoad } from '../../bench/support/load';
import { censusOf, type KeyCensus } from '../../bench/support/redis-keys';
import { testRedisUrl } from '../support/env';
import { useSeededMixedApp } from './support/mixed-app';
import { MIXED_INVOICES, MIXED_SUSTAINABLE_RATE } from './support/sustainable-rate';

const DURATION_S = Number(process.env.SOAK_DURATION_S ?? 600);
const WARMUP_S = Number(process.env.SOAK_WARMUP_S ?? 120);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_S ?? 10);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 200);

/** Half the sustainable rate the last `npm run bench` found (its mixed search), or half the target. */
function soakRate(): { rate: number; source: string } {
  if (process.env.SOAK_RATE) return { rate: Number(process.env.SOAK_RATE), source: 'SOAK_RATE' };
  const latest = path.join(ROOT, 'bench/results/latest.json');
  if (existsSync(latest)) {
    const report = JSON.parse(readFileSync(latest, 'utf8')) as { rows: Array<{ scenario: string; subject: string }> };
    const best = report.rows.find((r) => r.scenario === 'mixed' && r.subject.startsWith('highest offered rate'));
    const m = best && /: (\d+) req\/s/.exec(best.subject);
    if (m) return { rate: Math.round(Number(m[1]) / 2), source: 'half the highest rate in bench/results/latest.json' };
  }
  return { rate: MIXED_SUSTAINABLE_RATE / 2, source: 'half the sustainable rate of support/sustainable-rate.ts' };
}

interface Sample {
  atS: number;
  rssKb: number;
  fds: number;
  keys: KeyCensus;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('soak: the mixed workload at half the sustainable rate', () => {
  const subject = useSeededMixedApp(__filename, Number(process.env.SOAK_INVOICES ?? MIXED_INVOICES));

  it(
    'when it runs for the whole soak, then RSS grows < 10% after warm-up, open handles and persistent Redis keys do not grow, and nothing is 5xx',
    async () => {
      const { rate, source } = soakRate();
      const pid = subject.app.pid;
      const samples: Sample[] = [];
      const started = Date.now();
      const load = runLoad({
        url: subject.app.url,
        connections: CONNECTIONS,
        overallRate: rate,
        durationS: DURATION_S,
        workload: { name: 'mixed', fixture: subject.fixture },
        timeoutS: 30,
      });
      let done = false;
      void load.finally(() => (done = true)).catch(() => undefined);
      // Sampling from outside the process while the load runs; the last sample is taken before the load ends.
      while (!done) {
        await new Promise((r) => setTimeout(r, SAMPLE_S * 1000));
        if (done) break;
        samples.push({
          atS: (Date.now() - started) / 1000,
          rssKb: rssKb(pid),
          fds: fdCount(pid),
          keys: await censusOf(testRedisUrl(), subject.redisPrefix),
        });
      }
      const result = await load;

      const warm = samples.filter((s) => s.atS >= WARMUP_S);
      expect(warm.length).toBeGreaterThanOrEqual(4);
      // RSS is a sawtooth (the heap grows for minutes, then a major GC returns it), so two single
      // points compare different phases of it, and a third of the window may hold no GC at all
      // (its lowest point is then a plateau, not a trough). Compared: the highest RSS of the first
      // and of the last third after the warm-up, the ceiling a leak lifts; troughs are reported.
      const head = warm.slice(0, 3);
      const tail = warm.slice(-3);
      const third = Math.max(1, Math.floor(warm.length / 3));
      const firstThird = warm.slice(0, third).map((s) => s.rssKb);
      const lastThird = warm.slice(-third).map((s) => s.rssKb);
      const rssStart = Math.max(...firstThird);
      const rssEnd = Math.max(...lastThird);
      const troughStart = Math.min(...firstThird);
      const troughEnd = Math.min(...lastThird);
      const fdStart = median(head.map((s) => s.fds));
      const fdEnd = median(tail.map((s) => s.fds));
      const keysStart = head[head.length - 1]!.keys;
      const keysEnd = tail[tail.length - 1]!.keys;
      console.log(
        `soak: ${rate} req/s offered (${source}), ${CONNECTIONS} connections, ${DURATION_S} s: ` +
          `${result.total} requests, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, status ${JSON.stringify(result.statusCodes)}, errors ${result.errors}; ` +
          `RSS peak after warm-up ${(rssStart / 1024).toFixed(1)} MiB -> end ${(rssEnd / 1024).toFixed(1)} MiB ` +
          `(${(((rssEnd - rssStart) / rssStart) * 100).toFixed(1)}%), trough ${(troughStart / 1024).toFixed(1)} -> ` +
          `${(troughEnd / 1024).toFixed(1)} MiB (${(((troughEnd - troughStart) / troughStart) * 100).toFixed(1)}%); fds ${fdStart} -> ${fdEnd}; ` +
          `Redis keys ${keysStart.total} -> ${keysEnd.total} (max TTL ${keysEnd.maxTtlSeconds} s, persistent: ${keysEnd.persistent.join(', ') || 'none'}, by kind ${JSON.stringify(keysEnd.byKind)})\n` +
          `samples (s: RSS MiB / fds / keys): ${samples.map((s) => `${s.atS.toFixed(0)}: ${(s.rssKb / 1024).toFixed(0)}/${s.fds}/${s.keys.total}`).join(', ')}`,
      );

      // Which requests the server answered 5xx, from its own access log (the log is removed afterwards).
      const served5xx = readFileSync(subject.app.logFile, 'utf8')
        .split('\n')
        .filter((l) => /"statusCode":5\d\d/.test(l))
        .map((l) => /"url":"([^"]*)"/.exec(l)?.[1] ?? l.slice(0, 200));
      if (served5xx.length) console.log(`soak: 5xx answers by URL: ${served5xx.join(', ')}`);
      expect(result.status5xx).toBe(0);
      expect(result.total).toBeGreaterThan(rate * DURATION_S * 0.5);
      expect((rssEnd - rssStart) / rssStart).toBeLessThan(0.1);
      // Sockets come and go with pool resizing; a leak grows with traffic, far past this slack.
      expect(fdEnd).toBeLessThanOrEqual(fdStart + 10);
      // Keys without expiry are a fixed set (cache epoch, audit head): none appear under traffic.
      expect(keysEnd.persistent.filter((k) => !keysStart.persistent.includes(k))).toEqual([]);
      // Everything else expires: the count follows the traffic's working set, it does not pile up.
      expect(keysEnd.total).toBeLessThanOrEqual(Math.max(keysStart.total * 1.5, keysStart.total + 50));
      expect(subject.app.child.exitCode).toBeNull();
    },
    (DURATION_S + 300) * 1000,
  );
});
