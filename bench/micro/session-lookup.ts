/**
 * The session (revocation) and user lookup paths, in-process against the benchmark database
 * and Redis, 50 operations in flight:
 *  - with the cache: TokenService.verifyAccess (JWT + SessionRevocation, a Redis MGET of the
 *    cached answer), as every authenticated request runs it;
 *  - without: the source of truth the cache stands in for (sessionFactsFromDb: the session,
 *    its end record and its user's status from MongoDB);
 *  - the user read /auth/me adds (UserService.get, with field decryption).
 * Then it revokes a session and checks the very next verification is refused (revocation
 * stays instant with the cache). A user cache added later behind a config flag is compared
 * by running this with that flag in BENCH_APP_ENV (it reaches `env` here and the app).
 */
import jwt from 'jsonwebtoken';
import { loadConfig } from '../../src/config';
import { createContainer } from '../../src/container';
import { createLogger } from '../../src/lib/logger';
import { sessionFactsFromDb } from '../../src/services/auth/session-revocation';
import { SingleUseClaims } from '../../src/services/auth/single-use-claims';
import { emit, readInput } from '../support/child-json';
import type { Row } from '../support/report';

interface Input {
  env: Record<string, string>;
  tokens: string[];
  durationMs?: number;
}

interface Measured {
  ops: number;
  p50: number;
  p99: number;
  max: number;
}

/** `concurrency` loops calling `op` for `ms`; ops/s and per-operation latency percentiles. */
async function measure(op: (i: number) => Promise<unknown>, ms: number, concurrency = 50): Promise<Measured> {
  const lat: number[] = [];
  const end = Date.now() + ms;
  const start = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t = performance.now();
        await op(i++);
        lat.push(performance.now() - t);
      }
    }),
  );
  const elapsed = performance.now() - start;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!;
  return { ops: (lat.length / elapsed) * 1000, p50: pct(0.5), p99: pct(0.99), max: lat[lat.length - 1]! };
}

async function main(): Promise<void> {
  const input = await readInput<Input>();
  const ms = input.durationMs ?? 4000;
  const config = loadConfig({ ...input.env, MONGODB_SYNC_INDEXES_ON_BOOT: 'false' });
  const c = createContainer(config, createLogger({ level: 'warn' }));
  await c.deps.protection.encryption.init();
  await c.database.connect();
  if (c.redis.status !== 'ready') await new Promise((r) => c.redis.once('ready', r));
  const tokens = input.tokens;
  const claims = tokens.map((t) => jwt.decode(t, { json: true }) as { sub: string; sid: string });
  const lookup = sessionFactsFromDb({
    sessions: c.models.Session,
    users: c.models.User,
    claims: new SingleUseClaims({ claims: c.models.SingleUseClaim }),
    secondFactorRequired: (role) => c.deps.access.policy.requiresSecondFactor(role),
    now: () => new Date(),
  });

  // Warm both paths (pool connections, the revocation cache of every session).
  for (const t of tokens) await c.tokens.verifyAccess(t);
  const cached = await measure((i) => c.tokens.verifyAccess(tokens[i % tokens.length]!), ms);
  const uncached = await measure((i) => lookup(claims[i % claims.length]!.sid), ms);
  const userRead = await measure((i) => c.deps.identity.users.get(claims[i % claims.length]!.sub), ms);

  // Revocation is instant with the cache: the next check after revoke() refuses the token.
  // A session of its own: the seeded ones are still used by the other scenarios.
  const owner = await c.deps.identity.users.get(claims[0]!.sub);
  const { session } = await c.sessions.create(owner._id, true);
  const victim = c.tokens.signAccess({
    sub: owner._id,
    sid: session._id,
    role: owner.role,
    dept: owner.department,
    mfa: true,
    enroll: false,
  });
  await c.tokens.verifyAccess(victim);
  await c.sessions.revoke(session._id, 'benchmark revocation check');
  const refused = await c.tokens.verifyAccess(victim).then(
    () => false,
    () => true,
  );

  const rows: Row[] = [
    {
      scenario: 'session-lookup',
      subject: 'revocation check with Redis cache (verifyAccess), 50 in flight',
      rate: cached.ops,
      unit: 'ops/s',
      p50: cached.p50,
      p99: cached.p99,
      max: cached.max,
      baseline: uncached.ops,
      baselineSubject: 'MongoDB session lookup, no cache',
      ratio: cached.ops / uncached.ops,
      target: 'revoked token refused at once',
      pass: refused,
      note: `without cache: p50 ${uncached.p50.toFixed(1)} ms, p99 ${uncached.p99.toFixed(1)} ms; revoked token refused on the next check: ${refused}`,
    },
    {
      scenario: 'session-lookup',
      subject: 'user read (UserService.get, /auth/me adds it), 50 in flight',
      rate: userRead.ops,
      unit: 'ops/s',
      p50: userRead.p50,
      p99: userRead.p99,
      max: userRead.max,
      note: `app extra env: ${process.env.BENCH_APP_ENV ?? 'none'}`,
    },
  ];
  await c.redis.quit();
  await c.database.close();
  emit(rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
