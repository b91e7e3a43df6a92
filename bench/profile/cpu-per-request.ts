/**
 * CPU time the app process spends per request, for `GET /api/v1/auth/session` (bearer token)
 * and `GET /health/live`, next to the bare Express route's: the process's user+system time
 * (/proc/<pid>/stat) over a fixed-length load divided by the requests answered. Throughput
 * ratios swing with whatever else shares the cores; CPU per request moves much less, so this
 * is the figure to compare one change against the next on a busy machine.
 *
 * `node --import tsx bench/profile/cpu-per-request.ts` (a FerretDB of its own unless MONGODB_URI is set)
 * (BENCH_DURATION_S per round, default 5; BENCH_ROUNDS, default 3; median of the rounds).
 * BENCH_COMPARE_ROOT=<another checkout>: that checkout's app runs too, in alternating rounds
 * with this one (same database, Redis and tokens), so two versions are compared under the same load.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ensureMongo, ensureRedis } from '../../scripts/local-services';
import { productionEnv, startApp, startBareExpress, ROOT } from '../support/app-process';
import { dropDatabase, seed } from '../support/seed';
import { deleteKeys } from '../support/redis-keys';
import { median, runLoad, DURATION_S, ROUNDS } from '../support/load';

/** utime + stime of a process, in microseconds (clock ticks are 1/100 s on Linux). */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function main(): Promise<void> {
  const mongo = await ensureMongo(process.env, { dataDir: path.join(ROOT, '.data/bench-ferretdb') });
  const redis = await ensureRedis(process.env);
  const tag = randomBytes(4).toString('hex');
  const redisPrefix = `bench:${tag}:`;
  const env = productionEnv({
    mongoUrl: mongo.url,
    dbName: `erp_bench_${tag}`,
    redisUrl: redis.url,
    redisPrefix,
    extra: {},
  });
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const fixture = await seed(env, { staff: 1, invoices: 0, logins: 0 });
  const app = await startApp(env, path.join(ROOT, `bench/results/cpu-${tag}.app.log`));
  const bare = await startBareExpress();
  const compareRoot = process.env.BENCH_COMPARE_ROOT;
  const other = compareRoot
    ? await startApp(env, path.join(ROOT, `bench/results/cpu-${tag}.other.app.log`), 180_000, path.resolve(compareRoot))
    : undefined;
  try {
    const bearer = { authorization: `Bearer ${fixture.userTokens[0]!}` };
    const apps = [{ name: 'app', pid: app.pid, url: app.url }];
    if (other) apps.push({ name: 'other', pid: other.pid, url: other.url });
    const targets: Array<{ name: string; pid: number; url: string; headers: Record<string, string> }> = [
      ...apps.map((a) => ({
        name: `auth-get ${a.name}`,
        pid: a.pid,
        url: a.url + '/api/v1/auth/session',
        headers: bearer,
      })),
      { name: 'auth-get bare', pid: bare.pid, url: bare.url + '/api/v1/auth/session', headers: {} },
      ...apps.map((a) => ({ name: `health-live ${a.name}`, pid: a.pid, url: a.url + '/health/live', headers: {} })),
      { name: 'health-live bare', pid: bare.pid, url: bare.url + '/health/live', headers: {} },
    ];
    for (const t of targets) await runLoad({ url: t.url, headers: t.headers, connections: 100, durationS: 2 });
    const perTarget = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets) {
        const before = cpuMicros(t.pid);
        const r = await runLoad({ url: t.url, headers: t.headers, connections: 100, durationS: DURATION_S });
        const used = cpuMicros(t.pid) - before;
        if (r.non2xx + r.errors > 0) throw new Error(`${t.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        perTarget.get(t.name)!.push(used / r.total);
      }
    }
    for (const [name, xs] of perTarget)
      console.log(
        `${name.padEnd(18)} ${median(xs).toFixed(0).padStart(5)} µs CPU/request (rounds ${xs.map((x) => x.toFixed(0)).join(', ')})`,
      );
  } finally {
    await app.stop();
    await other?.stop();
    await bare.stop();
    await dropDatabase(env).catch(() => undefined);
    await deleteKeys(redis.url, redisPrefix).catch(() => undefined);
    // The servers this run started (none when MONGODB_URI / REDIS_URL named running ones).
    await mongo.stop?.();
    await redis.stop?.();
  }
  process.exit(0);
}

void main();
