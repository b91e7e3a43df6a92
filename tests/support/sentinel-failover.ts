import type { SentinelTopology } from './redis-topologies';
import type { SteadyLoad, LoadSample } from './steady-load';
import { waitFor } from './wait';

/** What one master kill under load cost, in ms from the kill. */
export interface FailoverFigures {
  /** When the master was killed (epoch ms). */
  killAt: number;
  /** The port of the promoted replica. */
  promotedPort: number;
  /** The sentinels named the replica as master. */
  promotedMs: number;
  /** The first request started after the kill that the app answered 2xx. */
  firstSuccessMs: number;
  /** The end of the last failed (5xx or unanswered) request: the outage as clients saw it. */
  windowMs: number;
  failures: LoadSample[];
  /** Requests answered during the whole load, and of them after the window. */
  total: number;
  afterWindow: number;
}

/**
 * Kills the Sentinel topology's current master with SIGKILL while `load` runs, waits for the
 * promotion and for the app to answer again, then lets the load run `settleRequests` more
 * requests so any late failure would show. The load keeps running; the caller stops it.
 */
export async function killMasterUnderLoad(
  topology: SentinelTopology,
  load: SteadyLoad,
  opts: { settleRequests: number; timeoutMs?: number },
): Promise<FailoverFigures> {
  const timeout = opts.timeoutMs ?? 60_000;
  const masterPort = await topology.masterPort();
  const victim = [topology.master, topology.replica].find((p) => p.port === masterPort);
  if (!victim) throw new Error(`the sentinels name no known master (${String(masterPort)})`);
  const survivor = victim === topology.master ? topology.replica : topology.master;

  const killAt = Date.now();
  await victim.kill('SIGKILL');
  await waitFor(async () => (await topology.masterPort()) === survivor.port, timeout, 'the sentinels to promote', 100);
  const promotedAt = Date.now();
  await waitFor(() => load.successesAfter(killAt).length > 0, timeout, 'the app to answer again after the kill');
  const followed = load.successesAfter(killAt)[0];
  const settledFrom = load.samples.length;
  await waitFor(() => load.samples.length >= settledFrom + opts.settleRequests, timeout, 'requests after recovery');

  // Failures of an earlier failover of the same load are that one's.
  const failures = load.failures().filter((f) => f.end >= killAt);
  const lastFailureEnd = Math.max(killAt, ...failures.map((f) => f.end));
  return {
    killAt,
    promotedPort: survivor.port,
    promotedMs: promotedAt - killAt,
    firstSuccessMs: followed.end - killAt,
    windowMs: lastFailureEnd - killAt,
    failures,
    total: load.samples.length,
    afterWindow: load.samples.filter((s) => s.start > lastFailureEnd).length,
  };
}
