import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { BackupJobDoc, BackupJobModel, BackupJobType } from '../../models/backup-job.model';
import type { BackupProgress, ProgressListener } from './backup.types';

/** A job whose heartbeat is older than this is reported abandoned (its process died). */
const ABANDONED_AFTER_MS = 90_000;
const HEARTBEAT_MS = 15_000;
/** Progress is written at most this often (plus every phase change), not per document. */
const PROGRESS_WRITE_MS = 500;

export type BackupJobView = Omit<BackupJobDoc, '_id' | 'status'> & {
  id: string;
  status: BackupJobDoc['status'] | 'abandoned';
};

export const IDLE_PROGRESS: BackupProgress = {
  phase: 'preparing',
  collectionsDone: 0,
  collectionsTotal: 0,
  documentsDone: 0,
  documentsTotal: 0,
  bytes: 0,
  etaSeconds: null,
};

/**
 * Long backup operations as jobs in MongoDB (`backup_jobs`): started here, run in the
 * background of this process, polled from any worker. Only this process writes the job's
 * document while it runs.
 */
export class BackupJobs {
  private readonly now: () => Date;
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly deps: { jobs: BackupJobModel; logger: Logger; now?: () => Date }) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Records a job and runs `work` in the background; returns its id at once. `work` reports
   * progress through the listener; its resolved value is the job's result.
   */
  async start(
    type: BackupJobType,
    opts: { backupId?: string | null; requestedBy?: string | null },
    work: (report: ProgressListener, jobId: string) => Promise<Record<string, unknown>>,
  ): Promise<string> {
    const id = randomUUID();
    const now = this.now();
    await this.deps.jobs.create({
      _id: id,
      type,
      status: 'running',
      backupId: opts.backupId ?? null,
      requestedBy: opts.requestedBy ?? null,
      progress: IDLE_PROGRESS,
      result: null,
      error: null,
      createdAt: now,
      heartbeatAt: now,
      finishedAt: null,
    });
    const run = this.run(id, work).finally(() => this.running.delete(run));
    this.running.add(run);
    return id;
  }

  private async run(
    id: string,
    work: (report: ProgressListener, jobId: string) => Promise<Record<string, unknown>>,
  ): Promise<void> {
    let lastWrite = 0;
    let lastPhase: BackupProgress['phase'] | null = null;
    let pending: Promise<unknown> = Promise.resolve();
    const report: ProgressListener = (progress) => {
      const t = Date.now(); // write throttling is about load, not business time
      if (progress.phase === lastPhase && t - lastWrite < PROGRESS_WRITE_MS) return;
      lastWrite = t;
      lastPhase = progress.phase;
      // Writes are chained so an older progress never lands after a newer one.
      pending = pending
        .then(() =>
          this.deps.jobs.updateOne({ _id: id }, { $set: { progress: { ...progress }, heartbeatAt: this.now() } }),
        )
        .catch((err: unknown) => this.deps.logger.warn({ err, jobId: id }, 'backup job progress not saved'));
    };
    const heartbeat = setInterval(() => {
      pending = pending
        .then(() => this.deps.jobs.updateOne({ _id: id }, { $set: { heartbeatAt: this.now() } }))
        .catch(() => undefined);
    }, HEARTBEAT_MS);
    heartbeat.unref();
    let update: Partial<BackupJobDoc>;
    try {
      const result = await work(report, id);
      update = { status: 'succeeded', result };
    } catch (err) {
      this.deps.logger.error({ err, jobId: id }, 'backup job failed');
      update = { status: 'failed', error: err instanceof Error ? err.message : String(err) };
    } finally {
      clearInterval(heartbeat);
    }
    await pending;
    const doc = await this.deps.jobs.findById(id, { progress: 1 }).lean();
    const finalPhase: BackupProgress['phase'] = update.status === 'succeeded' ? 'done' : 'failed';
    await this.deps.jobs.updateOne(
      { _id: id },
      {
        $set: {
          ...update,
          progress: { ...(doc?.progress ?? IDLE_PROGRESS), phase: finalPhase, etaSeconds: 0 },
          heartbeatAt: this.now(),
          finishedAt: this.now(),
        },
      },
    );
  }

  async get(id: string): Promise<BackupJobView | null> {
    const doc = await this.deps.jobs.findById(id).lean();
    if (!doc) return null;
    const { _id, status, ...rest } = doc;
    const abandoned = status === 'running' && this.now().getTime() - doc.heartbeatAt.getTime() > ABANDONED_AFTER_MS;
    return { id: _id, status: abandoned ? 'abandoned' : status, ...rest };
  }

  /** Waits for this process's running jobs (shutdown, tests). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }
}
