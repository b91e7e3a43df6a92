/**
 * Rate limiter cost: the same bare Express route with and without the app's general tier
 * (Redis sliding window), both in one server process (bench/support/limiter-server.ts),
 * loaded by autocannon in its own process at 10 connections, alternating rounds.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { median, runLoad, type LoadResult } from '../support/load';
import type { Row } from '../support/report';

export async function rateLimit(opts: {
  redisUrl: string;
  redisPrefix: string;
  rounds: number;
  durationS: number;
}): Promise<Row[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '../support/limiter-server.ts')], {
    env: { ...process.env, REDIS_URL: opts.redisUrl, BENCH_REDIS_PREFIX: opts.redisPrefix },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [barePort, limitedPort] = await new Promise<[number, number]>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+) (\d+)/.exec(out);
        if (m) resolve([Number(m[1]), Number(m[2])]);
      });
      child.on('exit', (code) => reject(new Error(`limiter server exited ${code}`)));
    });
    const connections = 10;
    const bare = { url: `http://127.0.0.1:${barePort}/r`, connections };
    const limited = { url: `http://127.0.0.1:${limitedPort}/r`, connections };
    await runLoad({ ...bare, durationS: 2 });
    await runLoad({ ...limited, durationS: 2 });
    const b: LoadResult[] = [];
    const l: LoadResult[] = [];
    for (let i = 0; i < opts.rounds; i++) {
      b.push(await runLoad({ ...bare, durationS: opts.durationS }));
      l.push(await runLoad({ ...limited, durationS: opts.durationS }));
    }
    const mean = (xs: LoadResult[]): number => median(xs.map((x) => x.latency.mean));
    const rate = (xs: LoadResult[]): number => median(xs.map((x) => x.requestsPerSecond));
    const mid = [...l].sort((x, y) => x.requestsPerSecond - y.requestsPerSecond)[Math.floor(l.length / 2)]!;
    const added = mean(l) - mean(b);
    // Server time per request, from throughput at a fixed concurrency.
    const perRequestMs = (1 / rate(l) - 1 / rate(b)) * 1000 * connections;
    return [
      {
        scenario: 'rate-limit',
        subject: `Express route + Redis sliding-window limiter, ${connections} conn`,
        rate: rate(l),
        unit: 'req/s',
        p50: mid.latency.p50,
        p99: mid.latency.p99,
        max: mid.latency.max,
        errors: l.reduce((s, r) => s + r.errors + r.timeouts, 0),
        non2xx: l.reduce((s, r) => s + r.non2xx, 0),
        baseline: rate(b),
        baselineSubject: 'same route, no limiter',
        ratio: rate(l) / rate(b),
        note: `added latency per request: ${added.toFixed(2)} ms mean (limiter ${mean(l).toFixed(2)} ms vs ${mean(b).toFixed(2)} ms); ${perRequestMs.toFixed(2)} ms per request from throughput at ${connections} connections`,
      },
    ];
  } finally {
    child.kill('SIGTERM');
  }
}
