import { buildTestApp, type TestApp } from './app';
import { createUser, mfaSession } from './users';
import { startSentinelTopology, type SentinelTopology } from './redis-topologies';

export interface SentinelApp {
  topology: SentinelTopology;
  t: TestApp;
  /** 2FA access tokens of `users` plain users, in order of `email(i)`. */
  tokens: string[];
}

/**
 * A real Sentinel topology (down-after 1000 ms, failover-timeout 5000 ms: the figures
 * docs/SCALING.md documents) and the test app configured with REDIS_SENTINELS, behind a
 * trusted proxy, with `users` signed-in users for the load. Shared by the short and the
 * long (slow) Sentinel failover suites.
 */
export async function sentinelAppWithUsers(
  file: string,
  opts: { generalLimit: string; users: number; email: (i: number) => string },
): Promise<SentinelApp> {
  const topology = await startSentinelTopology({ downAfterMs: 1000, failoverTimeoutMs: 5000 });
  const t = await buildTestApp(file, {
    ...topology.env,
    BCRYPT_COST: '10',
    RATE_LIMIT_AUTH: '100000/900',
    RATE_LIMIT_GENERAL: opts.generalLimit,
    TRUST_PROXY: '1',
  });
  const tokens: string[] = [];
  for (let i = 0; i < opts.users; i++) tokens.push(await mfaSession(t, await createUser(t, opts.email(i))));
  return { topology, t, tokens };
}
