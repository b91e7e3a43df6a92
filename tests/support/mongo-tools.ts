import { spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface MongoTools {
  bin: string;
  /** Runs a tool; throws with its output when it exits non-zero. */
  run(tool: 'mongodump' | 'mongorestore' | 'bsondump', args: string[]): { stdout: string; stderr: string };
}

let cached: { tools?: MongoTools; reason?: string } | undefined;

/**
 * The real mongo-tools (mongodump, mongorestore, bsondump) found or built by
 * scripts/ensure-mongo-tools.sh, or the one-line reason why there are none.
 */
export function mongoTools(): { tools?: MongoTools; reason?: string } {
  if (cached) return cached;
  const res = spawnSync('bash', [path.join(ROOT, 'scripts/ensure-mongo-tools.sh')], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (res.status !== 0) {
    cached = { reason: (res.stderr || 'ensure-mongo-tools failed').trim().split('\n').pop() };
    return cached;
  }
  const bin = res.stdout.trim().split('\n').pop()!;
  cached = {
    tools: {
      bin,
      run(tool, args) {
        const r = spawnSync(path.join(bin, tool), args, {
          encoding: 'utf8',
          timeout: 600_000,
          maxBuffer: 256 * 1024 * 1024,
        });
        if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
        return { stdout: r.stdout, stderr: r.stderr };
      },
    },
  };
  return cached;
}

/** mongorestore --gzip --noIndexRestore of the dump directory `dir` into the test server, database `fromDb` renamed to `toDb`. */
export function restoreDumpInto(tools: MongoTools, dir: string, fromDb: string, toDb: string): void {
  tools.run('mongorestore', [
    `--uri=${mongoServerUrl()}`,
    '--gzip',
    '--noIndexRestore',
    `--nsFrom=${fromDb}.*`,
    `--nsTo=${toDb}.*`,
    `--dir=${dir}`,
  ]);
}

/** The server URL the jest global setup started (without database). */
export function mongoServerUrl(): string {
  const url = process.env.TEST_MONGODB_URL;
  if (!url) throw new Error('TEST_MONGODB_URL is not set: run tests through jest');
  return url;
}
