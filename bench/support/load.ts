/** Pieces the HTTP benchmarks share: a local server, an autocannon run in its own process, medians. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import type autocannon from 'autocannon';

export const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

export function listen(handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The URL of `pathname` on a server that `listen` started. */
export function urlOf(server: http.Server, pathname: string): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${pathname}`;
}

/** autocannon in its own process, so the load generator does not share the server's event loop. */
export function run(
  url: string,
  connections: number,
  headers: Record<string, string> = {},
): Promise<autocannon.Result> {
  const args = [require.resolve('autocannon/autocannon.js'), '-j', '-c', String(connections), '-d', String(DURATION_S)];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as autocannon.Result) : reject(new Error(`autocannon exited ${code}`)),
    );
  });
}

export const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/** Per-round rates, for the report line. */
export const list = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
