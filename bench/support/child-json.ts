/** Runs a bench/micro/*.ts scenario in its own process: input as JSON on stdin, rows as the last stdout line. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Row } from './report';

/** Marks the rows line: services may log to stdout too. */
const MARK = 'BENCH_ROWS ';

export function runMicro(name: string, input: unknown, timeoutMs = 600_000): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'micro', `${name}.ts`)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`bench/micro/${name}.ts exited ${code}`));
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (!line) return reject(new Error(`bench/micro/${name}.ts printed no rows`));
      resolve(JSON.parse(line.slice(MARK.length)) as Row[]);
    });
    child.stdin.end(JSON.stringify(input ?? {}));
  });
}

/** In a micro scenario: its input. */
export async function readInput<T>(): Promise<T> {
  let text = '';
  for await (const chunk of process.stdin) text += (chunk as Buffer).toString();
  return JSON.parse(text || '{}') as T;
}

/** In a micro scenario: print the rows and exit (open handles of services must not keep it alive). */
export function emit(rows: Row[]): void {
  process.stdout.write('\n' + MARK + JSON.stringify(rows) + '\n', () => process.exit(0));
}
