import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { BackupJobDoc, BackupJobModel, BackupJobType, RestoreSafetyState } from '../../models/backup-job.model';
import type { BackupProgress, ProgressListener, RestoreJournal } from './backup.types';

type JobWork = (report: ProgressListener, jobId: string, signal: AbortSignal) => Promise<Record<string, unknown>>;

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
  /** Shutdown cancels what is still cancellable (a restore that has not begun its swap). */
  private readonly shutdown = new AbortController();
  /**
   * One chain of writes per job: progress, heartbeat and restore journal updates of a job go out
   * one at a time. Concurrent updates of one document are safe on MongoDB, but FerretDB 1.x
   * applies each as read-modify-write of the whole document, so a heartbeat racing the journal's
   * phase change could write the old phase back.
   */
  private readonly writes = new Map<string, Promise<unknown>>();

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
    work: JobWork,
  ): Promise<string> {
    return (await this.begin(type, opts, work)).id;
  }

  /** As start, but waits for the job and returns its result or throws its error (the CLI). */
  async runInline(
    type: BackupJobType,
    opts: { backupId?: string | null; requestedBy?: string | null },
    work: JobWork,
  ): Promise<{ jobId: string; result: Record<string, unknown> }> {
    let outcome: { ok: true; value: Record<string, unknown> } | { ok: false; err: unknown } | undefined;
    const { id, run } = await this.begin(type, opts, async (report, jobId, signal) => {
      try {
        const value = await work(report, jobId, signal);
        outcome = { ok: true, value };
        return value;
      } catch (err) {
        outcome = { ok: false, err };
        throw err;
      }
    });
    await run;
    if (!outcome) throw new Error(`backup job ${id} did not run`);
    if (!outcome.ok) throw outcome.err;
    return { jobId: id, result: outcome.value };
  }

  private async begin(
    type: BackupJobType,
    opts: { backupId?: string | null; requestedBy?: string | null },
    work: JobWork,
  ): Promise<{ id: string; run: Promise<void> }> {
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
      restore: null,
    });
    const run = this.run(id, work).finally(() => this.running.delete(run));
    this.running.add(run);
    return { id, run };
  }

  /** Runs `write` after every earlier write of job `id` has settled (see `writes`). */
  private inOrder<T>(id: string, write: () => Promise<T>): Promise<T> {
    const next = (this.writes.get(id) ?? Promise.resolve()).then(write, write);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.writes.set(id, settled);
    void settled.then(() => {
      if (this.writes.get(id) === settled) this.writes.delete(id);
    });
    return next;
  }

  private async run(id: string, work: JobWork): Promise<void> {
    let lastWrite = 0;
    let lastPhase: BackupProgress['phase'] | null = null;
    let pending: Promise<unknown> = Promise.resolve();
    const report: ProgressListener = (progress) => {
      const t = Date.now(); // write throttling is about load, not business time
      if (progress.phase === lastPhase && t - lastWrite < PROGRESS_WRITE_MS) return;
      lastWrite = t;
      lastPhase = progress.phase;
      // Writes are chained so an older progress never lands after a newer one.
      pending = this.inOrder(id, () =>
        this.deps.jobs.updateOne({ _id: id }, { $set: { progress: { ...progress }, heartbeatAt: this.now() } }),
      ).catch((err: unknown) => this.deps.logger.warn({ err, jobId: id }, 'backup job progress not saved'));
    };
    const heartbeat = setInterval(() => {
      pending = this.inOrder(id, () =>
        this.deps.jobs.updateOne({ _id: id }, { $set: { heartbeatAt: this.now() } }),
      ).catch(() => undefined);
    }, HEARTBEAT_MS);
    heartbeat.unref();
    let update: Partial<BackupJobDoc>;
    try {
      const result = await work(report, id, this.shutdown.signal);
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
    const restore = (await this.deps.jobs.findById(id, { restore: 1 }).lean())?.restore;
    // A finished swap is final; a failed one stays `swapping` for recovery to roll forward.
    const restoreDone =
      restore?.phase === 'swapping' && update.status === 'succeeded'
        ? { 'restore.phase': 'done', 'restore.finishedBy': 'process' }
        : {};
    await this.deps.jobs.updateOne(
      { _id: id },
      {
        $set: {
          ...update,
          ...restoreDone,
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

  /** Cancels running jobs where that is safe (a restore still staging), then waits for all of them. */
  async cancelAndDrain(): Promise<void> {
    this.shutdown.abort();
    await this.drain();
  }

  /** The job document as the journal of an overwriting restore: one atomic single-document update per step. */
  restoreJournal(jobId: string): RestoreJournal {
    const set = async (fields: Record<string, unknown>): Promise<void> => {
      const res = await this.inOrder(jobId, () =>
        this.deps.jobs.updateOne({ _id: jobId }, { $set: { ...fields, heartbeatAt: this.now() } }),
      );
      if (res.matchedCount !== 1) throw new Error(`backup job ${jobId} not found for the restore journal`);
    };
    return {
      staging: (db, collections) =>
        set({
          restore: {
            phase: 'staging',
            db,
            collections,
            swapped: [],
            targetChanged: false,
            finishedBy: null,
            note: null,
          } satisfies RestoreSafetyState,
        }),
      swapping: () => set({ 'restore.phase': 'swapping' }),
      swapped: async (target) => {
        const res = await this.inOrder(jobId, () =>
          this.deps.jobs.updateOne(
            { _id: jobId },
            { $push: { 'restore.swapped': target }, $set: { 'restore.targetChanged': true, heartbeatAt: this.now() } },
          ),
        );
        if (res.matchedCount !== 1) throw new Error(`backup job ${jobId} not found for the restore journal`);
      },
      rolledBack: (reason) =>
        set({ 'restore.phase': 'rolled-back', 'restore.targetChanged': false, 'restore.note': reason }),
    };
  }

  /** Restores whose process died while staging or swapping (their journal is not final). */
  async interruptedRestores(exceptJobIds: ReadonlySet<string> = new Set()): Promise<BackupJobDoc[]> {
    const docs = await this.deps.jobs.find({ 'restore.phase': { $in: ['staging', 'swapping'] } }).lean();
    return docs.filter((d) => !exceptJobIds.has(d._id));
  }

  /** Closes an interrupted restore's job after recovery. */
  async settleRecovered(
    jobId: string,
    outcome: { status: 'succeeded' | 'failed'; restore: Partial<RestoreSafetyState>; error?: string },
  ): Promise<void> {
    const doc = await this.deps.jobs.findById(jobId, { progress: 1 }).lean();
    const fields: Record<string, unknown> = {
      status: outcome.status,
      error: outcome.error ?? null,
      heartbeatAt: this.now(),
      finishedAt: this.now(),
      progress: {
        ...(doc?.progress ?? IDLE_PROGRESS),
        phase: outcome.status === 'succeeded' ? 'done' : 'failed',
        etaSeconds: 0,
      },
    };
    for (const [k, v] of Object.entries(outcome.restore)) fields[`restore.${k}`] = v;
    await this.deps.jobs.updateOne({ _id: jobId }, { $set: fields });
  }
}
