import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../lib/logger';

export interface JobDefinition {
  name: string;
  /** Cron expression, from config. */
  schedule: string;
  /** Calls one service method; the logic lives in the service. */
  run: () => Promise<unknown>;
}

/**
 * Runs cron jobs. A job that is still running when its next tick comes is skipped
 * (no overlap), failures are logged, and stop() waits for running jobs to finish.
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly jobs: JobDefinition[],
    private readonly logger: Logger,
    private readonly timezone = 'UTC',
  ) {}

  start(): void {
    for (const job of this.jobs) {
      let active = false;
      const task = cron.schedule(
        job.schedule,
        async () => {
          if (active) {
            this.logger.warn({ job: job.name }, 'job still running; tick skipped');
            return;
          }
          active = true;
          const run = job
            .run()
            .then(() => this.logger.info({ job: job.name }, 'job finished'))
            .catch((err: unknown) => this.logger.error({ job: job.name, err }, 'job failed'))
            .finally(() => {
              active = false;
              this.running.delete(run);
            });
          this.running.add(run);
          await run;
        },
        { timezone: this.timezone, name: job.name },
      );
      this.tasks.push(task);
    }
    if (this.jobs.length)
      this.logger.info({ jobs: this.jobs.map((j) => `${j.name} (${j.schedule})`) }, 'scheduler started');
  }

  async stop(): Promise<void> {
    for (const task of this.tasks) await task.stop();
    await Promise.allSettled([...this.running]);
  }
}
