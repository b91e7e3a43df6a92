/**
 * Load generation for the benchmarks and the load/soak tests: autocannon always runs in its
 * own process (bench/support/load-worker.ts), so the load generator never shares the
 * server's event loop, and results come back as plain numbers.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Fixture, WorkloadName } from './workload';

export const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

export interface LoadSpec {
  url: string;
  connections: number;
  durationS: number;
  /** Open-ish model: requests per second over all connections (autocannon overallRate). */
  overallRate?: number;
  /** Per-connection rate (autocannon connectionRate). */
  connectionRate?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** A drawn mix instead of one fixed request. */
  workload?: { name: WorkloadName; fixture: Fixture };
  /** Seconds before a request counts as a timeout (autocannon default 10). */
  timeoutS?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  total: number;
  latency: { mean: number; p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  status5xx: number;
  statusCodes: Record<string, number>;
  durationS: number;
}

const WORKER = path.join(__dirname, 'load-worker.ts');

/** Runs one autocannon load in a child process and returns its figures. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load worker exited ${code}: ${err.trim().slice(-500)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
      } catch (e) {
        reject(new Error(`load worker printed no result: ${(e as Error).message}; ${err.slice(-300)}`));
      }
    });
    child.stdin.end(JSON.stringify(spec));
  });
}

export const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** Per-round rates, for notes. */
export const list = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
