import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../lib/logger';
import type { Lease, LeaseManager } from './lease';

/** What a cluster-wide job gets: its lease (the fencing token) and a signal that aborts if the lease is lost. */
export interface JobRunContext {
  lease?: Lease;
  signal?: AbortSignal;
  /** The time the run was scheduled for (the cron tick), or when it was started by hand. */
  scheduledAt: Date;
}

export interface JobDefinition {
  name: string;
  /** Cron expression, from config. */
  schedule: string;
  /** Overrides the scheduler's timezone for this job. */
  timezone?: string;
  /**
   * Runs once per cluster instead of once per process: each tick is claimed by one process,
   * and the job runs under the lease `job:<name>` (renewed while it runs; a crashed holder's
   * lease expires after `leaseTtlMs`). Needs the scheduler's `leases`.
   */
  clusterWide?: boolean;
  leaseTtlMs?: number;
  /** Calls one service method; the logic lives in the service. */
  run: (ctx: JobRunContext) => Promise<unknown>;
}

export type FireOutcome = 'ran' | 'failed' | 'skipped-running' | 'skipped-elsewhere';

export interface SchedulerOptions {
  leases?: LeaseManager;
  /** This process's name in lease documents (host:pid:random by default in the container). */
  holderId?: string;
}

const DEFAULT_LEASE_TTL_MS = 60_000;
/** How long a claimed tick is remembered: longer than any clock skew between hosts. */
const TICK_CLAIM_TTL_MS = 24 * 3_600_000;

/**
 * Runs cron jobs. A job that is still running when its next tick comes is skipped
 * (no overlap), failures are logged, and stop() waits for running jobs to finish.
 * Cluster-wide jobs fire once per cluster, not once per PM2 worker.
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Set<Promise<unknown>>();
  private readonly active = new Set<string>();

  constructor(
    private readonly jobs: JobDefinition[],
    private readonly logger: Logger,
    private readonly timezone = 'UTC',
    private readonly options: SchedulerOptions = {},
  ) {
    const orphan = jobs.find((j) => j.clusterWide && !options.leases);
    if (orphan) throw new Error(`job ${orphan.name} is cluster-wide but the scheduler has no lease manager`);
  }

  start(): void {
    for (const job of this.jobs) {
      const task = cron.schedule(
        job.schedule,
        async (ctx) => {
          await this.fire(job.name, ctx.date);
        },
        { timezone: job.timezone ?? this.timezone, name: job.name },
      );
      this.tasks.push(task);
    }
    if (this.jobs.length)
      this.logger.info({ jobs: this.jobs.map((j) => `${j.name} (${j.schedule})`) }, 'scheduler started');
  }

  /** The registered jobs (for operators and tests): name, cron, timezone, cluster-wide or per process. */
  describe(): Array<{ name: string; schedule: string; timezone: string; clusterWide: boolean }> {
    return this.jobs.map((j) => ({
      name: j.name,
      schedule: j.schedule,
      timezone: j.timezone ?? this.timezone,
      clusterWide: j.clusterWide === true,
    }));
  }

  /** One tick of `name` (cron calls this; tests and operators may too). */
  async fire(name: string, scheduledAt: Date): Promise<FireOutcome> {
    const job = this.jobs.find((j) => j.name === name);
    if (!job) throw new Error(`unknown job ${name}`);
    if (this.active.has(name)) {
      this.logger.warn({ job: name }, 'job still running; tick skipped');
      return 'skipped-running';
    }
    this.active.add(name);
    const run = this.execute(job, scheduledAt).finally(() => {
      this.active.delete(name);
      this.running.delete(run);
    });
    this.running.add(run);
    return run;
  }

  private async execute(job: JobDefinition, scheduledAt: Date): Promise<FireOutcome> {
    try {
      if (!job.clusterWide) {
        await job.run({ scheduledAt });
        this.logger.info({ job: job.name }, 'job finished');
        return 'ran';
      }
      const leases = this.options.leases as LeaseManager;
      const holder = this.options.holderId ?? 'scheduler';
      const ttl = job.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
      // Minute resolution: cron's finest tick; the same tick on every worker gives the same key.
      const tick = new Date(Math.floor(scheduledAt.getTime() / 60_000) * 60_000).toISOString();
      const outcome = await leases.withLease(`job:${job.name}`, holder, ttl, async (lease, signal) => {
        if (!(await leases.claimOnce(`${job.name}:${tick}`, holder, TICK_CLAIM_TTL_MS))) return false;
        await job.run({ lease, signal, scheduledAt });
        return true;
      });
      if (!outcome || !outcome.value) {
        this.logger.debug({ job: job.name, tick }, 'job runs (or ran) elsewhere in the cluster; tick skipped');
        return 'skipped-elsewhere';
      }
      this.logger.info({ job: job.name }, 'job finished');
      return 'ran';
    } catch (err) {
      this.logger.error({ job: job.name, err }, 'job failed');
      return 'failed';
    }
  }

  async stop(): Promise<void> {
    for (const task of this.tasks) await task.stop();
    await Promise.allSettled([...this.running]);
  }
}
