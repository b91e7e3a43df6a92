/**
 * Issue 15 §4, load: the real app (production mode, child process) under 1,000 concurrent
 * connections of the mixed workload (reads of lists and records, writes, health polls, a few
 * logins; bench/support/workload.ts) for LOAD_DURATION_S seconds (default 60) at an offered
 * LOAD_RATE req/s (default: the sustainable rate of the local database, support/sustainable-rate.ts)
 * over LOAD_INVOICES invoices (default 1,000). Nothing may be answered with 5xx, and the process
 * stays up. Run: `npm run test:reliability -- tests/reliability/load.slow.test.ts` (short check:
 * LOAD_DURATION_S=10).
 */
import { readFileSync } from 'node:fs';
import { runLoad, type LoadResult } from '../../bench/support/load';
import { useSeededMixedApp } from './support/mixed-app';
import { MIXED_INVOICES, MIXED_SUSTAINABLE_RATE } from './support/sustainable-rate';

const DURATION_S = Number(process.env.LOAD_DURATION_S ?? 60);
const RATE = Number(process.env.LOAD_RATE ?? MIXED_SUSTAINABLE_RATE);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 1000);
const INVOICES = Number(process.env.LOAD_INVOICES ?? MIXED_INVOICES);

describe('load: 1,000 concurrent connections of the mixed workload', () => {
  const subject = useSeededMixedApp(__filename, INVOICES);

  it(
    `when ${CONNECTIONS} connections offer ${RATE} req/s for ${DURATION_S} s, then no request is answered with 5xx and the process stays up`,
    async () => {
      const result: LoadResult = await runLoad({
        url: subject.app.url,
        connections: CONNECTIONS,
        overallRate: RATE,
        durationS: DURATION_S,
        workload: { name: 'mixed', fixture: subject.fixture },
        timeoutS: 30,
      });
      console.log(
        `load: ${result.total} requests in ${result.durationS} s (${result.requestsPerSecond.toFixed(0)} req/s), ` +
          `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms, ` +
          `errors ${result.errors}, timeouts ${result.timeouts}, status ${JSON.stringify(result.statusCodes)}`,
      );
      // The workload was really served: most of the offered requests were answered 2xx.
      const ok = Object.entries(result.statusCodes)
        .filter(([code]) => code.startsWith('2'))
        .reduce((s, [, n]) => s + n, 0);
      expect(ok).toBeGreaterThan(RATE * DURATION_S * 0.5);
      expect(result.status5xx).toBe(0);
      // The server's own access log agrees (what a client saw as a dropped connection is not a 5xx it sent).
      const log = readFileSync(subject.app.logFile, 'utf8');
      expect(log.split('\n').filter((l) => /"statusCode":5\d\d/.test(l))).toEqual([]);
      expect(subject.app.child.exitCode).toBeNull();
      const live = await fetch(`${subject.app.url}/health/live`);
      expect(live.status).toBe(200);
    },
    (DURATION_S + 300) * 1000,
  );
});
