/**
 * The perf branch's measurement loop (not part of `npm run bench`): one scenario at a time,
 * the app in this process with info-level logging to a file (as deployed), a bare Express 5
 * route in the same process as the baseline, autocannon in its own process, alternating rounds.
 * Run under `node --cpu-prof --cpu-prof-dir=.cache/prof --import tsx bench/profile/stack.ts <scenario>`
 * and read the profile with bench/profile/top.ts.
 *
 *   scenarios: session | live | me | login | invoices | limiter | all
 *   env: BENCH_DURATION_S (5), BENCH_ROUNDS (3), PERF_CONNECTIONS (100), PERF_SESSION_CACHE (true/false)
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import type autocannon from 'autocannon';
import express from 'express';
import pino from 'pino';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { createContainer } from '../../src/container';
import { ensureMongo, ensureRedis } from '../../scripts/local-services';
import { DURATION_S, ROUNDS, list, listen, median, run, urlOf } from '../support/load';

const CONNECTIONS = Number(process.env.PERF_CONNECTIONS ?? 100);

async function main(): Promise<void> {
  const scenario = process.argv[2] ?? 'session';
  process.env.NODE_ENV = 'production';
  const root = path.resolve(__dirname, '../..');
  const mongo = await ensureMongo(process.env, { dataDir: path.join(root, '.data/bench') });
  const redis = await ensureRedis(process.env);
  const logFile = path.join(root, '.cache', `perf-${process.pid}.log`);
  const config = loadConfig({
    NODE_ENV: 'test',
    MONGODB_URI: mongo.url.replace(/\/$/, '') + '/erp_perf_' + scenario,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `perf:${process.pid}:`,
    LOG_LEVEL: 'info',
    RATE_LIMIT_GENERAL: '1000000/60',
    RATE_LIMIT_AUTH: '1000000/900',
    BCRYPT_COST: scenario === 'login' ? '12' : '10',
    ...(process.env.PERF_SESSION_CACHE ? { SESSION_CACHE: process.env.PERF_SESSION_CACHE } : {}),
  });
  const logger = createLogger({ level: 'info', destination: pino.destination({ dest: logFile, sync: false }) });
  const container = createContainer(config, logger);
  await container.start();
  await container.alertDelivery.stop();
  await container.database.connection.dropDatabase();
  await container.database.syncIndexes();
  const users = container.deps.identity.users;
  await users.create(
    {
      email: 'perf@example.com',
      name: 'Perf',
      role: 'manager',
      department: 'sales',
      password: 'perf-password-very-long-1',
    },
    null,
  );
  const login = await container.deps.identity.auth.login('perf@example.com', 'perf-password-very-long-1');
  if (login.mfaRequired) throw new Error('unexpected MFA');
  const auth = { authorization: `Bearer ${login.accessToken}` };

  const full = await listen(createApp(container.deps));
  const bareApp = express();
  bareApp.set('etag', false);
  bareApp.get('/x', (_req, res) => {
    res.json({ userId: 'u', role: 'user', department: null, mfa: false, enrollmentRequired: false, kind: 'user' });
  });
  const bare = await listen(bareApp);
  const bareUrl = urlOf(bare, '/x');

  /**
   * One autocannon run, with this process's CPU time per answered request: on a shared,
   * overloaded machine req/s swings with the neighbours, CPU per request hardly does, and for
   * a single-threaded server at saturation throughput is its inverse.
   */
  const measured = async (url: string, headers: Record<string, string> = {}) => {
    const cpu0 = process.cpuUsage();
    const r = await run(url, CONNECTIONS, headers);
    const cpu = process.cpuUsage(cpu0);
    return { r, usPerReq: (cpu.user + cpu.system) / Math.max(1, r.requests.total) };
  };
  const ratioOf = async (label: string, url: string, headers: Record<string, string> = {}): Promise<void> => {
    if (process.env.PERF_PROFILE_ONLY) {
      // Load on the app alone, so a --cpu-prof profile holds nothing but its requests.
      const { r, usPerReq } = await measured(url, headers);
      console.log(
        `${label} alone: ${r.requests.average.toFixed(0)} req/s, ${usPerReq.toFixed(0)} µs CPU/request, p99 ${r.latency.p99} ms`,
      );
      return;
    }
    await run(bareUrl, 10);
    await run(url, 10, headers);
    const bareRates: number[] = [];
    const rates: number[] = [];
    const p99s: number[] = [];
    const bareCpu: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const b = await measured(bareUrl);
      bareRates.push(b.r.requests.average);
      bareCpu.push(b.usPerReq);
      const f = await measured(url, headers);
      if (f.r.non2xx || f.r.errors) throw new Error(`${label}: ${f.r.non2xx} non-2xx, ${f.r.errors} errors`);
      rates.push(f.r.requests.average);
      p99s.push(f.r.latency.p99);
      cpu.push(f.usPerReq);
    }
    const ratio = median(rates) / median(bareRates);
    const cpuRatio = median(bareCpu) / median(cpu);
    console.log(
      `${label}: CPU/request ${median(cpu).toFixed(0)} µs [${list(cpu)}] vs bare ${median(bareCpu).toFixed(0)} µs [${list(bareCpu)}] => CPU-bound ratio ${(cpuRatio * 100).toFixed(1)}%; ` +
        `req/s ${median(rates).toFixed(0)} [${list(rates)}] vs bare ${median(bareRates).toFixed(0)} [${list(bareRates)}] = ${(ratio * 100).toFixed(1)}%, p99 ${median(p99s)} ms (${CONNECTIONS} conns, ${DURATION_S} s)`,
    );
  };

  const scenarios: Record<string, () => Promise<void>> = {
    session: () => ratioOf('GET /api/v1/auth/session', urlOf(full, '/api/v1/auth/session'), auth),
    live: () => ratioOf('GET /health/live', urlOf(full, '/health/live')),
    me: () => ratioOf('GET /api/v1/auth/me', urlOf(full, '/api/v1/auth/me'), auth),
    limiter: async () => {
      // Added latency of the limiter: the same bare route with and without the general tier in front.
      const limited = express();
      limited.set('etag', false);
      limited.use(container.deps.gates.rateLimiters.general);
      limited.get('/x', (_req, res) => void res.json({ ok: true }));
      const srv = await listen(limited);
      const p50s: number[] = [];
      const bareP50s: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        bareP50s.push((await run(bareUrl, 1)).latency.average);
        p50s.push((await run(urlOf(srv, '/x'), 1)).latency.average);
      }
      console.log(
        `rate limiter, 1 connection: mean latency ${median(p50s).toFixed(3)} ms vs bare ${median(bareP50s).toFixed(3)} ms: added ${(median(p50s) - median(bareP50s)).toFixed(3)} ms`,
      );
      await ratioOf('limiter only (general tier)', urlOf(srv, '/x'));
      srv.close();
    },
    invoices: async () => {
      const now = Date.now();
      const docs = Array.from({ length: 10_000 }, (_, i) => ({
        _id: randomUUID(),
        number: `INV-${i}`,
        customer: `Customer ${i % 97}`,
        amount: 1000 + i,
        currency: 'EUR',
        status: 'draft',
        department: 'sales',
        createdBy: randomUUID(),
        approvedBy: null,
        approvedAt: null,
        paidAt: null,
        version: 0,
        createdAt: new Date(now - i * 1000),
        updatedAt: new Date(now - i * 1000),
      }));
      for (let i = 0; i < docs.length; i += 1000)
        await container.models.Invoice.insertMany(docs.slice(i, i + 1000), { lean: true });
      const url = urlOf(full, '/api/v1/invoices?limit=50');
      await run(url, 10, auth);
      const r = await run(url, 50, auth);
      console.log(
        `50-item page of 10,000 invoices at 50 conns: ${r.requests.average.toFixed(0)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}`,
      );
    },
    login: async () => {
      // 50 concurrent logins (bcrypt cost 12) while /health/live is polled.
      const liveUrl = urlOf(full, '/health/live');
      const idle = await run(liveUrl, 10);
      const loginUrl = urlOf(full, '/api/v1/auth/login');
      const body = JSON.stringify({ email: 'perf@example.com', password: 'perf-password-very-long-1' });
      const [live, logins] = await Promise.all([run(liveUrl, 10), runPost(loginUrl, 50, body)]);
      console.log(
        `/health/live idle p99 ${idle.latency.p99} ms; under 50 concurrent logins: p50 ${live.latency.p50} ms, p99 ${live.latency.p99} ms, max ${live.latency.max} ms; logins ${logins.requests.total} (${logins.requests.average.toFixed(1)}/s, p99 ${logins.latency.p99} ms, non-2xx ${logins.non2xx}); UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 'default'}`,
      );
    },
  };
  const names = scenario === 'all' ? ['live', 'session', 'me', 'limiter', 'invoices'] : [scenario];
  for (const n of names) await scenarios[n]();

  full.close();
  bare.close();
  await container.database.connection.dropDatabase();
  await container.stop();
  fs.rmSync(logFile, { force: true });
  await mongo.stop?.();
  await redis.stop?.();
}

function runPost(url: string, connections: number, body: string): Promise<autocannon.Result> {
  const args = [require.resolve('autocannon/autocannon.js'), '-j', '-c', String(connections), '-d', String(DURATION_S)];
  args.push('-m', 'POST', '-H', 'content-type=application/json', '-b', body, url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as autocannon.Result) : reject(new Error(`autocannon exited ${code}`)),
    );
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
