import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../../scripts/local-services';
import { ROOT } from './process';
import { waitFor } from './wait';

export const VERSITYGW_ACCESS_KEY = 'test-access-key';
export const VERSITYGW_SECRET_KEY = 'test-secret-key-0123456789';

export interface VersityPeer {
  endpoint: string;
  /** A client for the test's own checks (the code under test builds its own from config). */
  client: S3Client;
  createBucket(name: string, opts?: { objectLock?: boolean }): Promise<void>;
  /** Stops the server; `keepData` leaves its directories for a restart on the same port. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  port: number;
  dataDir: string;
}

/** The real S3 peer (versitygw v1.7.0, POSIX backend in temp dirs), built once by scripts/ensure-versitygw.sh. */
export async function startVersitygw(opts: { port?: number; dataDir?: string } = {}): Promise<VersityPeer> {
  const bin = path.join(ROOT, '.cache/bin/versitygw');
  if (!existsSync(bin)) execFileSync(path.join(ROOT, 'scripts/ensure-versitygw.sh'), { stdio: 'inherit' });
  const base = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'versitygw-')));
  const dirs = ['data', 'meta', 'versions'].map((d) => path.join(base, d));
  execFileSync('mkdir', ['-p', ...dirs]);
  const port = opts.port ?? (await freePort());
  const child: ChildProcess = spawn(
    bin,
    ['--port', `127.0.0.1:${port}`, 'posix', '--sidecar', dirs[1], '--versioning-dir', dirs[2], dirs[0]],
    {
      env: {
        PATH: process.env.PATH ?? '',
        ROOT_ACCESS_KEY: VERSITYGW_ACCESS_KEY,
        ROOT_SECRET_KEY: VERSITYGW_SECRET_KEY,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: VERSITYGW_ACCESS_KEY, secretAccessKey: VERSITYGW_SECRET_KEY },
  });
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`versitygw exited: ${stderr}`);
      return fetch(endpoint).then(
        () => true,
        () => false,
      );
    },
    20_000,
    'versitygw to listen',
  );
  return {
    endpoint,
    client,
    async createBucket(name, opts = {}) {
      await client.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: opts.objectLock }));
    },
    port,
    dataDir: base,
    async stop(stopOpts = {}) {
      client.destroy();
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      if (!stopOpts.keepData) await rm(base, { recursive: true, force: true });
    },
  };
}
