/**
 * Health endpoints under load, in one run:
 *  - `/health/live` through the full middleware stack against a bare Node http server
 *    answering the same body (the ceiling of what Node can do here), reported as a ratio,
 *    and against a bare Express 5 route in the same run. Express 5 routing alone reaches
 *    about a quarter of bare Node here, so the target is set against Express: >= 50% of
 *    it (the security headers, CORS, request id and metrics timer every response gets).
 *  - `/health` (anonymous view, served from the latest sample) p99 latency at 500
 *    concurrent connections. Target: p99 <= 500 ms, no errors, and no database commands
 *    beyond the sampler's (counted with the driver's command monitoring).
 * Uses the local MongoDB-wire server and Redis (started if needed, as for tests).
 */
import express from 'express';
import { createApp } from '../src/app';
import { startBenchContainer } from './support/app';
import { DURATION_S, ROUNDS, list, listen, median, run, urlOf } from './support/load';

const LIVE_TARGET = 0.5;
const P99_TARGET_MS = 500;

async function main(): Promise<void> {
  const bench = await startBenchContainer('erp_bench_health', {
    MONGODB_MONITOR_COMMANDS: 'true',
    // A long interval, so every command seen during the load is attributable.
    HEALTH_SAMPLE_INTERVAL_MS: '3600000',
    // The load generator shares this machine: its CPU use must not turn /health into 503s.
    HEALTH_CPU_LOAD_PER_CORE: '1000/2000',
    HEALTH_EVENT_LOOP_DELAY_MS: '10000/20000',
  });
  const { container } = bench;
  // The alert outbox worker polls MongoDB on its own schedule; only what /health costs is counted.
  await container.alertDelivery.stop();
  let commands = 0;
  container.database.connection.getClient().on('commandStarted', () => void commands++);

  const full = await listen(createApp(container.deps));
  const body = JSON.stringify({ status: 'pass' });
  const bare = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/health+json', 'cache-control': 'no-store' }).end(body);
  });
  const bareExpressApp = express();
  bareExpressApp.set('etag', false);
  bareExpressApp.get('/health/live', (_req, res) => {
    res.status(200).type('application/health+json').send(body);
  });
  const bareExpress = await listen(bareExpressApp);
  const expressUrl = urlOf(bareExpress, '/health/live');
  const base = urlOf(full, '');
  const bareUrl = urlOf(bare, '/health/live');

  await run(bareUrl, 10);
  await run(expressUrl, 10);
  await run(`${base}/health/live`, 10);
  const bareRates: number[] = [];
  const expressRates: number[] = [];
  const liveRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bareRates.push((await run(bareUrl, 50)).requests.average);
    expressRates.push((await run(expressUrl, 50)).requests.average);
    const live = await run(`${base}/health/live`, 50);
    if (live.non2xx > 0 || live.errors > 0)
      throw new Error(`/health/live: ${live.non2xx} non-2xx, ${live.errors} errors`);
    liveRates.push(live.requests.average);
  }
  const nodeRatio = median(liveRates) / median(bareRates);
  const ratio = median(liveRates) / median(expressRates);
  console.log(
    `bare Node http server:           median ${median(bareRates).toFixed(0)} req/s (rounds: ${list(bareRates)}; 50 connections, ${DURATION_S} s each)`,
  );
  console.log(
    `bare Express 5 route:            median ${median(expressRates).toFixed(0)} req/s (rounds: ${list(expressRates)})`,
  );
  console.log(
    `/health/live, full stack:        median ${median(liveRates).toFixed(0)} req/s (rounds: ${list(liveRates)})`,
  );
  console.log(`ratio live/bare Node: ${(nodeRatio * 100).toFixed(1)}%`);
  console.log(
    `ratio live/bare Express: ${(ratio * 100).toFixed(1)}% (target >= ${LIVE_TARGET * 100}%) ${ratio >= LIVE_TARGET ? 'PASS' : 'FAIL'}`,
  );

  commands = 0;
  const c500 = await run(`${base}/health`, 500);
  const p99ok = c500.latency.p99 <= P99_TARGET_MS && c500.errors === 0 && c500.non2xx === 0;
  console.log(
    `/health at 500 connections: ${c500.requests.average.toFixed(0)} req/s, ${c500.requests.total} requests, latency p50 ${c500.latency.p50} ms, p99 ${c500.latency.p99} ms (target <= ${P99_TARGET_MS} ms), errors ${c500.errors}, non-2xx ${c500.non2xx} ${p99ok ? 'PASS' : 'FAIL'}`,
  );
  console.log(`database commands during the /health load: ${commands} (target 0) ${commands === 0 ? 'PASS' : 'FAIL'}`);

  full.close();
  bare.close();
  bareExpress.close();
  await bench.close();
  if (ratio < LIVE_TARGET || !p99ok || commands !== 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
