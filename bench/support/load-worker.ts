/**
 * The load process: reads a LoadSpec (bench/support/load.ts) on stdin, runs autocannon
 * in-process, prints one LoadResult line on stdout. Mixed workloads are drawn per request
 * in autocannon's setupRequest.
 */
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './load';
import { WORKLOADS } from './workload';

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += (chunk as Buffer).toString();
  return text;
}

async function main(): Promise<void> {
  const spec = JSON.parse(await readStdin()) as LoadSpec;
  const opts: autocannon.Options = {
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationS,
    timeout: spec.timeoutS ?? 10,
    method: spec.method ?? 'GET',
    headers: spec.headers,
    body: spec.body,
  };
  if (spec.overallRate) opts.overallRate = spec.overallRate;
  if (spec.connectionRate) opts.connectionRate = spec.connectionRate;
  const workload = spec.workload;
  if (workload) {
    const draw = WORKLOADS[workload.name];
    // setupRequest gets autocannon's own request object: answer a fresh one every time.
    opts.requests = [
      {
        setupRequest: (req) => {
          const drawn = draw(workload.fixture);
          return { ...req, method: drawn.method, path: drawn.path, headers: drawn.headers, body: drawn.body };
        },
      },
    ];
  }
  const r = await autocannon(opts);
  const codes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) codes[code] = (s as { count: number }).count;
  const result: LoadResult = {
    requestsPerSecond: r.requests.total / r.duration,
    total: r.requests.total,
    latency: {
      mean: r.latency.average,
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
    },
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    status5xx: r['5xx'],
    statusCodes: codes,
    durationS: r.duration,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
