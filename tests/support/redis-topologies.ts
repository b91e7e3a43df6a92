import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { freePort } from '../../scripts/local-services';
import type { RedisEndpoint } from '../../src/lib/redis';
import { waitFor } from './wait';

/**
 * Real Redis topologies on 127.0.0.1 free ports for the scale-out tests: a Sentinel setup
 * (master, replica, three sentinels) and a three-master Cluster. Every process is started
 * here, in its own temp dir, without persistence; stop() kills them all and removes the dir.
 */

export interface RedisProcess {
  port: number;
  readonly child: ChildProcess;
  /** Kills the process (SIGKILL by default: a crash, not a shutdown) and resolves when it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with the same arguments (after kill), e.g. an old master coming back. */
  restart(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 30_000;

function startProcess(bin: string, args: string[], port: number): RedisProcess {
  let child = spawn(bin, args, { stdio: 'ignore' });
  let exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    get child() {
      return child;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    async restart() {
      await this.kill();
      child = spawn(bin, args, { stdio: 'ignore' });
      exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await waitFor(() => answers(port), STARTUP_TIMEOUT_MS, `${bin} on ${port} to answer again`);
    },
  };
}

/** A plain connection for the test's own checks (no prefix, no retries). */
export async function probe<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function answers(port: number): Promise<boolean> {
  return probe(port, async (r) => (await r.ping()) === 'PONG').catch(() => false);
}

function serverArgs(port: number, dir: string, extra: string[] = []): string[] {
  return [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--logfile',
    path.join(dir, `redis-${port}.log`),
    ...extra,
  ];
}

export interface SentinelTopology {
  masterName: string;
  master: RedisProcess;
  replica: RedisProcess;
  sentinels: RedisProcess[];
  sentinelEndpoints: RedisEndpoint[];
  /** What the app needs to use this topology (REDIS_URL cleared: the two are exclusive). */
  env: Record<string, string>;
  /** The master's port as the sentinels report it now. */
  masterPort(): Promise<number | null>;
  stop(): Promise<void>;
}

export interface SentinelOptions {
  /** How long a master may be silent before a sentinel calls it down. */
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

/**
 * One master, one replica (`--replicaof`) and three `redis-sentinel` processes with a quorum
 * of two. Resolves once the replica is in sync and every sentinel knows the replica and the
 * other two sentinels, so a failover can happen as soon as the master dies.
 */
export async function startSentinelTopology(opts: SentinelOptions = {}): Promise<SentinelTopology> {
  const dir = mkdtempSync(path.join(tmpdir(), 'erp-sentinel-'));
  const masterName = 'erp-test';
  const procs: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [masterPort, replicaPort] = [await freePort(), await freePort()];
    const master = startProcess('redis-server', serverArgs(masterPort, dir), masterPort);
    procs.push(master);
    await waitFor(() => answers(masterPort), STARTUP_TIMEOUT_MS, 'the Redis master');
    const replica = startProcess(
      'redis-server',
      serverArgs(replicaPort, dir, ['--replicaof', '127.0.0.1', String(masterPort)]),
      replicaPort,
    );
    procs.push(replica);
    await waitFor(
      () =>
        probe(replicaPort, async (r) => /master_link_status:up/.test(await r.info('replication'))).catch(() => false),
      STARTUP_TIMEOUT_MS,
      'the replica in sync',
    );

    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const file = path.join(dir, `sentinel-${port}.conf`);
      // Sentinels rewrite their own config file (known replicas and sentinels), so it lives in the temp dir.
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `logfile ${path.join(dir, `sentinel-${port}.log`)}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${masterName} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${masterName} ${opts.failoverTimeoutMs ?? 5000}`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const s = startProcess('redis-sentinel', [file], port);
      procs.push(s);
      sentinels.push(s);
    }
    for (const s of sentinels)
      await waitFor(
        () =>
          probe(s.port, async (r) => {
            const replicas = (await r.call('SENTINEL', 'REPLICAS', masterName)) as unknown[];
            const peers = (await r.call('SENTINEL', 'SENTINELS', masterName)) as unknown[];
            return replicas.length === 1 && peers.length === 2;
          }).catch(() => false),
        STARTUP_TIMEOUT_MS,
        `sentinel ${s.port} to know the replica and its peers`,
        100,
      );
    const sentinelEndpoints = sentinels.map((s) => ({ host: '127.0.0.1', port: s.port }));
    return {
      masterName,
      master,
      replica,
      sentinels,
      sentinelEndpoints,
      env: {
        REDIS_URL: '',
        REDIS_SENTINELS: sentinelEndpoints.map((e) => `${e.host}:${e.port}`).join(','),
        REDIS_SENTINEL_NAME: masterName,
      },
      async masterPort() {
        for (const s of sentinels) {
          const addr = await probe(
            s.port,
            async (r) => (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as string[] | null,
          ).catch(() => null);
          if (addr) return Number(addr[1]);
        }
        return null;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface ClusterTopology {
  nodes: RedisProcess[];
  endpoints: RedisEndpoint[];
  /** What the app needs to use this cluster (REDIS_URL cleared: the two are exclusive). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Three `redis-server --cluster-enabled yes` masters joined by `redis-cli --cluster create
 * --cluster-replicas 0`, each with its own bus port (`cluster-port`), ready when every node
 * reports cluster_state:ok.
 */
export async function startRedisCluster(): Promise<ClusterTopology> {
  const dir = mkdtempSync(path.join(tmpdir(), 'erp-cluster-'));
  const procs: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      const node = startProcess(
        'redis-server',
        serverArgs(port, dir, [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(busPort),
          '--cluster-config-file',
          path.join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
        ]),
        port,
      );
      procs.push(node);
    }
    for (const n of procs) await waitFor(() => answers(n.port), STARTUP_TIMEOUT_MS, `cluster node ${n.port}`);
    const endpoints = procs.map((n) => ({ host: '127.0.0.1', port: n.port }));
    const created = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...endpoints.map((e) => `${e.host}:${e.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    for (const n of procs)
      await waitFor(
        () =>
          probe(n.port, async (r) => /cluster_state:ok/.test(String(await r.call('CLUSTER', 'INFO')))).catch(
            () => false,
          ),
        STARTUP_TIMEOUT_MS,
        `cluster node ${n.port} to report cluster_state:ok`,
        100,
      );
    return {
      nodes: procs,
      endpoints,
      env: { REDIS_URL: '', REDIS_CLUSTER_NODES: endpoints.map((e) => `${e.host}:${e.port}`).join(',') },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
