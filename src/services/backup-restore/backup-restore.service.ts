import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { Lease, LeaseManager } from '../../jobs/lease';
import type { AuditInput, AuditTrail } from '../audit/audit-trail';
import type { AlertRaiser } from '../alerts/alert-raiser';
import type {
  BackupEngineApi,
  BackupKind,
  BackupManifest,
  BackupProgress,
  ProgressListener,
  RestoreResult,
  VerificationRecord,
} from './backup.types';
import type { BackupJobs, BackupJobView } from './backup-jobs';
import { TEMP_DIR_PREFIX } from './backup-engine';
import { planRetention, type RetentionCandidate, type RetentionPlan } from './retention';
import type { S3Storage } from './s3-storage';

/** HealthCheck reads these: the last verified backup older than warn → warn, older than fail → fail. */
export const BACKUP_FRESHNESS = { warnAfterHours: 26, failAfterHours: 50 } as const;

/** Backup ids are directory names and S3 key segments: nothing that could climb out of either. */
export const BACKUP_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Database names a restore may target (MongoDB's rules, minus anything path-like). */
export const DB_NAME_PATTERN = /^[A-Za-z0-9_-]{1,63}$/;

const LEASE_NAME = 'backup';
/** Collections of the live database a restore over it never replaces: its own job journal and lease. */
const RESTORE_KEEPS = ['backup_jobs', 'job_leases'] as const;
const LEASE_TTL_MS = 120_000;
const HOUR_MS = 3_600_000;
/** lastVerifiedBackupAt() reuses the last listing this long: health probes call it often, S3 listing is slow. */
const CATALOG_CACHE_MS = 60_000;

export interface BackupRestoreConfig {
  dir: string;
  verifyAfter: boolean;
  keepDailyDays: number;
  keepWeeklyWeeks: number;
  missedGraceHours: number;
}

export interface BackupSummary {
  id: string;
  kind: BackupKind;
  startedAt: string;
  finishedAt: string;
  documents: number;
  bytes: number;
  collections: number;
  encrypted: boolean;
  verification: VerificationRecord | null;
  /** Where complete copies are. */
  locations: Array<'local' | 's3'>;
  lockedUntil: string | null;
}

export interface RestoreRequest {
  /** Target database; the original one only with `overwrite` and `confirm` equal to the backup id. */
  toDb?: string;
  collections?: string[];
  overwrite?: boolean;
  confirm?: string;
}

export interface PruneReport {
  local: RetentionPlan;
  s3: RetentionPlan | null;
}

export interface Actor {
  id: string | null;
  role?: string | null;
}

const SYSTEM: Actor = { id: null, role: 'system' };

/**
 * Backups around the engine (backup-engine.ts, through BackupEngineApi): one operation at a
 * time across the cluster (lease `backup`, with its fencing token checked before anything is
 * committed), the S3 copy, verification, restore, retention, jobs polled by id, freshness for
 * HealthCheck, and critical alerts when a backup fails, fails verification or is missed.
 */
export class BackupRestoreService {
  private readonly now: () => Date;
  private readonly startedAt: Date;
  private catalogCache: { at: number; value: BackupSummary[] } | null = null;

  constructor(
    private readonly deps: {
      engine: BackupEngineApi;
      jobs: BackupJobs;
      leases: LeaseManager;
      audit: AuditTrail;
      alerts: AlertRaiser;
      s3?: S3Storage;
      logger: Logger;
      config: BackupRestoreConfig;
      /** The live database (a restore into it needs confirmation and a safety backup). */
      databaseName: string;
      /** This process in lease documents. */
      holderId: string;
      /** Told of every backup's outcome (the metrics); must not throw. */
      onFinished?: (result: 'success' | 'failure', at: Date) => void;
      now?: () => Date;
    },
  ) {
    this.now = deps.now ?? (() => new Date());
    this.startedAt = this.now();
  }

  // --- jobs (what the API and the CLI start)

  async startCreate(kind: BackupKind, actor: Actor = SYSTEM): Promise<string> {
    await this.assertIdle();
    return this.deps.jobs.start('create', { requestedBy: actor.id }, async (report) => {
      const m = await this.create(kind, { actor, onProgress: report });
      return { backupId: m.id, documents: m.totals.documents, bytes: m.totals.bytes };
    });
  }

  async startVerify(id: string, actor: Actor = SYSTEM): Promise<string> {
    await this.require(id);
    await this.assertIdle();
    return this.deps.jobs.start('verify', { backupId: id, requestedBy: actor.id }, async (report) => ({
      verification: await this.verify(id, { actor, onProgress: report }),
    }));
  }

  async startRestore(id: string, req: RestoreRequest, actor: Actor = SYSTEM): Promise<string> {
    this.checkRestoreRequest(id, req);
    await this.require(id);
    await this.assertIdle();
    return this.deps.jobs.start('restore', { backupId: id, requestedBy: actor.id }, async (report, jobId, signal) => ({
      ...(await this.restore(id, req, { actor, onProgress: report, jobId, signal })),
    }));
  }

  /** A restore recorded as a job (so its outcome is journalled and visible) but run in the foreground: the CLI. */
  async restoreAsJob(
    id: string,
    req: RestoreRequest,
    opts: { actor?: Actor; onProgress?: ProgressListener; signal?: AbortSignal } = {},
  ): Promise<RestoreResult & { safetyBackupId: string | null; jobId: string }> {
    this.checkRestoreRequest(id, req);
    const actor = opts.actor ?? SYSTEM;
    let out: (RestoreResult & { safetyBackupId: string | null }) | undefined;
    const { jobId } = await this.deps.jobs.runInline(
      'restore',
      { backupId: id, requestedBy: actor.id },
      async (report, jobId, shutdown) => {
        const signal = opts.signal ? AbortSignal.any([opts.signal, shutdown]) : shutdown;
        const progress: ProgressListener = (p) => {
          report(p);
          opts.onProgress?.(p);
        };
        out = await this.restore(id, req, { actor, onProgress: progress, jobId, signal });
        return { ...out };
      },
    );
    return { ...out!, jobId };
  }

  /**
   * Finishes the restores a dead process left behind (SIGKILL, crash), from their job journals:
   * one killed while staging is rolled back (staging dropped; the target was never touched), one
   * killed during its swap is rolled forward (the target ends fully restored). Runs under the
   * backup lease, so never alongside a live restore.
   */
  async recoverInterruptedRestores(): Promise<string[]> {
    // Cheap check first: start-up must not take the lease (and make a backup wait) for nothing.
    if ((await this.deps.jobs.interruptedRestores()).length === 0) return [];
    const out = await this.deps.leases.withLease(LEASE_NAME, this.deps.holderId, LEASE_TTL_MS, () =>
      this.recoverUnderLease(),
    );
    if (!out)
      throw AppError.conflict('Another backup operation is running in the cluster; try again later.', 'backup-busy');
    return out.value;
  }

  private async recoverUnderLease(): Promise<string[]> {
    const recovered: string[] = [];
    for (const job of await this.deps.jobs.interruptedRestores()) {
      const state = job.restore!;
      if (state.phase === 'staging') {
        await this.deps.engine.dropStaging(state.db, state.collections);
        await this.deps.jobs.settleRecovered(job._id, {
          status: 'failed',
          error: 'The restoring process died while staging; the target database is untouched.',
          restore: {
            phase: 'rolled-back',
            targetChanged: false,
            finishedBy: 'recovery',
            note: 'staging dropped by recovery',
          },
        });
      } else {
        const swapped = new Set(state.swapped);
        await this.deps.engine.rollForwardSwap(
          state.db,
          state.collections.filter((c) => !swapped.has(c.target)),
          (target) => this.deps.jobs.restoreJournal(job._id).swapped(target),
        );
        await this.deps.jobs.settleRecovered(job._id, {
          status: 'succeeded',
          restore: {
            phase: 'done',
            targetChanged: true,
            finishedBy: 'recovery',
            note: 'the restoring process died during the swap; recovery finished it (target fully restored)',
          },
        });
      }
      this.deps.logger.warn({ jobId: job._id, phase: state.phase, db: state.db }, 'interrupted restore recovered');
      recovered.push(job._id);
    }
    return recovered;
  }

  job(jobId: string): Promise<BackupJobView | null> {
    return this.deps.jobs.get(jobId);
  }

  // --- operations

  /** Takes a backup under the cluster lease, uploads it, verifies it when asked, prunes. */
  async create(
    kind: BackupKind,
    opts: { actor?: Actor; onProgress?: ProgressListener; verify?: boolean; prune?: boolean } = {},
  ): Promise<BackupManifest> {
    const actor = opts.actor ?? SYSTEM;
    try {
      const manifest = await this.underLease(async (lease) => {
        const m = await this.createUnderLease(kind, lease, opts.onProgress);
        if (opts.verify) await this.verifyUnderLease(m.id, lease, actor, opts.onProgress);
        if (opts.prune) await this.pruneUnderLease(lease, actor);
        return m;
      });
      await this.recordAudit(actor, {
        action: 'backup.created',
        outcome: 'succeeded',
        resourceId: manifest.id,
        details: { kind, documents: manifest.totals.documents, bytes: manifest.totals.bytes, s3: !!this.deps.s3 },
      });
      this.deps.onFinished?.('success', this.now());
      if (kind === 'daily' || kind === 'weekly') {
        await this.deps.alerts.resolveByKey({ source: 'backup', kind: 'backup.failed', subject: kind }, manifest.id);
        await this.deps.alerts.resolveByKey({ source: 'backup', kind: 'backup.missed', subject: kind }, manifest.id);
      }
      return manifest;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.deps.onFinished?.('failure', this.now());
      await this.recordAudit(actor, {
        action: 'backup.created',
        outcome: 'failed',
        details: { kind, error: message },
      }).catch((e: unknown) => this.deps.logger.error({ err: e }, 'audit of a failed backup not recorded'));
      await this.raise('backup.failed', kind, `${kind} backup failed`, message);
      throw err;
    }
  }

  private async createUnderLease(
    kind: BackupKind,
    lease: Lease,
    onProgress?: ProgressListener,
  ): Promise<BackupManifest> {
    await mkdir(this.deps.config.dir, { recursive: true });
    await this.removeAbandonedTemp();
    if (this.deps.s3) await this.uploadMissing(lease);
    const id = this.newId(kind);
    const manifest = await this.deps.engine.create({ id, kind, root: this.deps.config.dir, onProgress });
    this.catalogCache = null;
    if (this.deps.s3) {
      await this.deps.leases.assertHeld(lease);
      const total = manifest.totals.bytes;
      const began = Date.now();
      const progress = (bytes: number): BackupProgress => {
        const rate = bytes / Math.max(1, (Date.now() - began) / 1000);
        return {
          phase: 'uploading',
          collectionsDone: manifest.collections.length,
          collectionsTotal: manifest.collections.length,
          documentsDone: manifest.totals.documents,
          documentsTotal: manifest.totals.documents,
          bytes,
          etaSeconds: bytes > 0 ? Math.round((total - bytes) / rate) : null,
        };
      };
      onProgress?.(progress(0));
      await this.deps.s3.upload(this.dirOf(id), manifest, (bytes) => onProgress?.(progress(bytes)));
    }
    return manifest;
  }

  /** Checksums, then a restore into a scratch database; the result goes into the manifest (local and S3) and the audit trail. */
  async verify(id: string, opts: { actor?: Actor; onProgress?: ProgressListener } = {}): Promise<VerificationRecord> {
    return this.underLease((lease) => this.verifyUnderLease(id, lease, opts.actor ?? SYSTEM, opts.onProgress));
  }

  private async verifyUnderLease(
    id: string,
    lease: Lease,
    actor: Actor,
    onProgress?: ProgressListener,
  ): Promise<VerificationRecord> {
    const dir = await this.localCopy(id);
    const scratch = `${this.deps.databaseName}_verify_${randomBytes(4).toString('hex')}`.slice(0, 63);
    let record: VerificationRecord;
    try {
      record = await this.deps.engine.verifyByRestore(dir, scratch, onProgress);
    } catch (err) {
      record = {
        at: this.now().toISOString(),
        ok: false,
        method: 'restore',
        problems: [err instanceof Error ? err.message : String(err)],
      };
    }
    await this.deps.leases.assertHeld(lease);
    const manifest = { ...(await this.deps.engine.readManifest(dir)), verification: record };
    await this.writeLocalManifest(dir, manifest);
    if (this.deps.s3 && (await this.deps.s3.get(id))) await this.deps.s3.putManifest(manifest);
    this.catalogCache = null;
    await this.recordAudit(actor, {
      action: 'backup.verified',
      outcome: record.ok ? 'succeeded' : 'failed',
      resourceId: id,
      details: { method: record.method, problems: record.problems.slice(0, 20) },
    });
    if (!record.ok)
      await this.raise(
        'backup.verification-failed',
        id,
        `backup ${id} failed verification`,
        record.problems.join('; '),
      );
    else await this.deps.alerts.resolveByKey({ source: 'backup', kind: 'backup.verification-failed', subject: id });
    return record;
  }

  /** Whether a restore with this `toDb` (none: the original database) writes over the live database. */
  isLiveTarget(toDb: string | undefined): boolean {
    return toDb === undefined || toDb === this.deps.databaseName;
  }

  /** Refuses a restore over the live database without the explicit confirmation (a 400, before any work). */
  checkRestoreRequest(id: string, req: RestoreRequest): void {
    if (!BACKUP_ID_PATTERN.test(id)) throw AppError.notFound(`No backup ${id}.`);
    if (req.toDb !== undefined && !DB_NAME_PATTERN.test(req.toDb))
      throw AppError.badRequest('toDb must be 1-63 letters, digits, "_" or "-".');
    const overLive = this.isLiveTarget(req.toDb);
    if (overLive && !(req.overwrite === true && req.confirm === id))
      throw new AppError({
        code: 'restore-confirmation-required',
        status: 400,
        title: 'Restore Confirmation Required',
        detail: `Restoring over the live database ${this.deps.databaseName} needs overwrite: true and confirm: "${id}" (a safety backup is taken first). Or restore into another database with toDb.`,
      });
    if (!overLive && req.overwrite) throw AppError.badRequest('overwrite applies only to the live database.');
  }

  /** Restores from the local copy or S3; over the live database only confirmed, and after a safety backup. */
  async restore(
    id: string,
    req: RestoreRequest,
    opts: { actor?: Actor; onProgress?: ProgressListener; jobId?: string; signal?: AbortSignal } = {},
  ): Promise<RestoreResult & { safetyBackupId: string | null }> {
    this.checkRestoreRequest(id, req);
    const actor = opts.actor ?? SYSTEM;
    const overLive = this.isLiveTarget(req.toDb);
    try {
      const result = await this.underLease(async (lease) => {
        const dir = await this.localCopy(id);
        let safetyBackupId: string | null = null;
        if (overLive) safetyBackupId = (await this.createUnderLease('safety', lease, opts.onProgress)).id;
        await this.deps.leases.assertHeld(lease);
        const restored = await this.deps.engine.restore(dir, {
          toDb: req.toDb ?? this.deps.databaseName,
          collections: req.collections,
          overwrite: overLive,
          onProgress: opts.onProgress,
          signal: opts.signal,
          journal: opts.jobId ? this.deps.jobs.restoreJournal(opts.jobId) : undefined,
          // Restoring over the live database never rewinds the restore's own journal and lease.
          keep: overLive ? [...RESTORE_KEEPS] : undefined,
        });
        return { ...restored, safetyBackupId };
      });
      await this.recordAudit(actor, {
        action: 'backup.restored',
        outcome: 'succeeded',
        resourceId: id,
        details: {
          toDb: result.db,
          collections: result.collections.map((c) => c.collection),
          safetyBackupId: result.safetyBackupId,
        },
      });
      return result;
    } catch (err) {
      await this.recordAudit(actor, {
        action: 'backup.restored',
        outcome: 'failed',
        resourceId: id,
        details: {
          toDb: req.toDb ?? this.deps.databaseName,
          error: err instanceof Error ? err.message : String(err),
        },
      }).catch(() => undefined);
      throw err;
    }
  }

  /** Applies retention locally and in S3 under the lease; reports what was deleted and what was skipped. */
  async prune(actor: Actor = SYSTEM): Promise<PruneReport> {
    return this.underLease((lease) => this.pruneUnderLease(lease, actor));
  }

  private async pruneUnderLease(lease: Lease, actor: Actor): Promise<PruneReport> {
    const policy = { keepDailyDays: this.deps.config.keepDailyDays, keepWeeklyWeeks: this.deps.config.keepWeeklyWeeks };
    const now = this.now();
    const local = await this.listLocal();
    const remote = this.deps.s3 ? await this.deps.s3.list() : null;
    const inS3 = new Set(remote?.map((r) => r.manifest.id));
    const candidate = (m: BackupManifest, lockedUntil?: Date): RetentionCandidate => ({
      id: m.id,
      kind: m.kind,
      finishedAt: new Date(m.finishedAt),
      verified: m.verification?.ok === true,
      lockedUntil,
    });
    // A local copy whose S3 copy is not there (upload failed or pending) is kept whatever its age.
    const localPlan = planRetention(
      local.filter((m) => !remote || inS3.has(m.id)).map((m) => candidate(m)),
      policy,
      now,
    );
    if (remote)
      for (const m of local.filter((x) => !inS3.has(x.id)))
        localPlan.skipped.push({ id: m.id, reason: 'no verified S3 copy yet' });
    const s3Plan = remote
      ? planRetention(
          remote.map((r) => candidate(r.manifest, r.lockedUntil)),
          policy,
          now,
        )
      : null;
    // S3 first: a local copy is only dropped when the remote one is settled.
    if (s3Plan && this.deps.s3) {
      const deleted = [];
      for (const d of s3Plan.delete) {
        await this.deps.leases.assertHeld(lease);
        const r = await this.deps.s3.delete(d.id);
        if (r.deleted) deleted.push(d);
        else s3Plan.skipped.push({ id: d.id, reason: `object-locked until ${r.lockedUntil?.toISOString()}` });
      }
      s3Plan.delete = deleted;
    }
    for (const d of localPlan.delete) {
      await this.deps.leases.assertHeld(lease);
      await this.removeLocal(d.id);
    }
    this.catalogCache = null;
    const report = { local: localPlan, s3: s3Plan };
    await this.recordAudit(actor, {
      action: 'backup.pruned',
      outcome: 'succeeded',
      details: {
        localDeleted: localPlan.delete.map((d) => d.id),
        s3Deleted: s3Plan?.delete.map((d) => d.id) ?? [],
        skipped: [...localPlan.skipped, ...(s3Plan?.skipped ?? [])].map((d) => `${d.id}: ${d.reason}`).slice(0, 50),
      },
    });
    return report;
  }

  /** One audit entry about backups, by `actor`. */
  private recordAudit(actor: Actor, entry: Omit<AuditInput, 'actorId' | 'actorRole' | 'resource'>): Promise<unknown> {
    return this.deps.audit.record({ ...entry, actorId: actor.id, actorRole: actor.role ?? null, resource: 'backup' });
  }

  // --- catalog

  /** Complete backups, local and in S3, newest first. */
  async list(): Promise<BackupSummary[]> {
    const byId = new Map<string, BackupSummary>();
    const summary = (m: BackupManifest): BackupSummary => ({
      id: m.id,
      kind: m.kind,
      startedAt: m.startedAt,
      finishedAt: m.finishedAt,
      documents: m.totals.documents,
      bytes: m.totals.bytes,
      collections: m.collections.length,
      encrypted: !!m.encryption,
      verification: m.verification ?? null,
      locations: [],
      lockedUntil: null,
    });
    for (const m of await this.listLocal()) byId.set(m.id, { ...summary(m), locations: ['local'] });
    // S3 unreachable: the local catalog still answers (listing, restore, backup health), not cached.
    let remote: Awaited<ReturnType<S3Storage['list']>> = [];
    let remoteKnown = true;
    if (this.deps.s3)
      remote = await this.deps.s3.list().catch((err: unknown) => {
        remoteKnown = false;
        this.deps.logger.warn({ err }, 'S3 unreachable: listing local backups only');
        return [];
      });
    for (const r of remote) {
      const known = byId.get(r.manifest.id);
      const s = known ?? summary(r.manifest);
      s.locations.push('s3');
      s.lockedUntil = r.lockedUntil?.toISOString() ?? null;
      // the newer verification wins (a verify may have run on another host)
      const v = r.manifest.verification;
      if (v && (!s.verification || v.at > s.verification.at)) s.verification = v;
      byId.set(s.id, s);
    }
    const value = [...byId.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
    this.catalogCache = remoteKnown ? { at: this.now().getTime(), value } : null;
    return value;
  }

  async get(id: string): Promise<BackupSummary | null> {
    if (!BACKUP_ID_PATTERN.test(id)) return null;
    return (await this.list()).find((b) => b.id === id) ?? null;
  }

  /** When the newest backup whose last verification passed was taken; null when none is verified. */
  async lastVerifiedBackupAt(): Promise<Date | null> {
    const t = this.now().getTime();
    const cached = this.catalogCache && t - this.catalogCache.at < CATALOG_CACHE_MS ? this.catalogCache.value : null;
    const verified = (cached ?? (await this.list())).filter((b) => b.verification?.ok);
    if (!verified.length) return null;
    return new Date(
      verified
        .map((b) => b.finishedAt)
        .sort()
        .at(-1) as string,
    );
  }

  /** pass / warn (> 26 h) / fail (> 50 h or none) for HealthCheck. */
  async freshness(): Promise<{
    status: 'pass' | 'warn' | 'fail';
    lastVerifiedAt: Date | null;
    ageHours: number | null;
  }> {
    const last = await this.lastVerifiedBackupAt();
    if (!last) return { status: 'fail', lastVerifiedAt: null, ageHours: null };
    const ageHours = (this.now().getTime() - last.getTime()) / HOUR_MS;
    const status =
      ageHours > BACKUP_FRESHNESS.failAfterHours
        ? 'fail'
        : ageHours > BACKUP_FRESHNESS.warnAfterHours
          ? 'warn'
          : 'pass';
    return { status, lastVerifiedAt: last, ageHours };
  }

  /**
   * Missed scheduled backups: the newest complete backup of each scheduled kind must be younger
   * than its period plus the grace (with no backup at all, counted from this process's start).
   * Raises a critical alert per missed kind; returns the kinds missed.
   */
  async checkMissed(kinds: Array<'daily' | 'weekly'> = ['daily', 'weekly']): Promise<string[]> {
    const backups = await this.list();
    const missed: string[] = [];
    for (const kind of kinds) {
      const periodMs = (kind === 'weekly' ? 7 * 24 : 24) * HOUR_MS;
      const newest = backups.find((b) => b.kind === kind);
      const since = newest ? new Date(newest.finishedAt) : this.startedAt;
      const overdueMs = this.now().getTime() - since.getTime() - periodMs - this.deps.config.missedGraceHours * HOUR_MS;
      if (overdueMs > 0) {
        missed.push(kind);
        await this.raise(
          'backup.missed',
          kind,
          `${kind} backup missed`,
          newest
            ? `The last ${kind} backup (${newest.id}) finished at ${newest.finishedAt}.`
            : `No ${kind} backup has completed since ${since.toISOString()}.`,
        );
      }
    }
    return missed;
  }

  /** What the scheduler runs: a daily or weekly backup, verified when configured, then pruning. */
  runScheduled(kind: 'daily' | 'weekly'): Promise<BackupManifest> {
    return this.create(kind, { verify: this.deps.config.verifyAfter, prune: true });
  }

  /** Writes the plain mongodump directory of a backup (decrypted) to `outDir`. */
  async decrypt(id: string, outDir: string): Promise<void> {
    await this.deps.engine.decrypt(await this.localCopy(id), outDir);
  }

  /** Shutdown: a restore still staging is cancelled (target untouched); one swapping is waited for. */
  async stop(): Promise<void> {
    await this.deps.jobs.cancelAndDrain();
  }

  // --- helpers

  /**
   * The retry of failed uploads: every run first uploads the local backups S3 lacks (an
   * earlier upload that failed after its own retries, e.g. S3 unreachable for the whole
   * night). A failure here is logged and left for the next run; the new backup's own upload
   * still reports the outage.
   */
  private async uploadMissing(lease: Lease): Promise<void> {
    const s3 = this.deps.s3;
    if (!s3) return;
    try {
      const remote = new Set((await s3.list()).map((r) => r.manifest.id));
      for (const m of await this.listLocal()) {
        if (remote.has(m.id)) continue;
        await this.deps.leases.assertHeld(lease);
        await s3.upload(this.dirOf(m.id), m);
        this.catalogCache = null;
        this.deps.logger.info({ backupId: m.id }, 'backup uploaded to S3 on a later run (its first upload failed)');
      }
    } catch (err) {
      this.deps.logger.warn({ err }, 'uploading backups missing from S3 failed; retried on the next run');
    }
  }

  /**
   * Under the cluster lease no other backup is being written, so a temporary directory is
   * what a run killed mid-dump (kill -9, OOM, power loss) left: never a backup, only disk.
   */
  private async removeAbandonedTemp(): Promise<void> {
    const names = await readdir(this.deps.config.dir);
    for (const name of names.filter((n) => n.startsWith(TEMP_DIR_PREFIX))) {
      await rm(path.join(this.deps.config.dir, name), { recursive: true, force: true });
      this.deps.logger.warn({ dir: name }, 'removed a partial backup left by a run that did not finish');
    }
  }

  private async underLease<T>(work: (lease: Lease) => Promise<T>): Promise<T> {
    const out = await this.deps.leases.withLease(LEASE_NAME, this.deps.holderId, LEASE_TTL_MS, async (lease) => {
      // Whoever takes the lease next finishes a restore a dead process left half-done, before anything else.
      await this.recoverUnderLease();
      return work(lease);
    });
    if (!out)
      throw AppError.conflict('Another backup operation is running in the cluster; try again later.', 'backup-busy');
    return out.value;
  }

  /**
   * A 409 at once when another backup operation holds the lease, instead of a job that fails
   * a moment later. Only a courtesy: the job itself still takes the lease (the real guard).
   */
  private async assertIdle(): Promise<void> {
    const current = await this.deps.leases.current(LEASE_NAME);
    if (current && current.releasedAt === null && current.expiresAt.getTime() > this.now().getTime())
      throw AppError.conflict('Another backup operation is running in the cluster; try again later.', 'backup-busy');
  }

  private async require(id: string): Promise<BackupSummary> {
    const b = await this.get(id);
    if (!b) throw AppError.notFound(`No complete backup ${id}.`);
    return b;
  }

  private newId(kind: BackupKind): string {
    const stamp = this.now()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    return `${stamp}-${kind}-${randomBytes(3).toString('hex')}`;
  }

  private dirOf(id: string): string {
    if (!BACKUP_ID_PATTERN.test(id)) throw AppError.notFound(`No backup ${id}.`);
    return path.join(this.deps.config.dir, id);
  }

  /** The local directory of a backup, downloaded from S3 first when only S3 has it. */
  private async localCopy(id: string): Promise<string> {
    const dir = this.dirOf(id);
    if (await this.isCompleteLocal(id)) return dir;
    if (this.deps.s3 && (await this.deps.s3.get(id))) {
      await mkdir(this.deps.config.dir, { recursive: true });
      return this.deps.s3.download(id, this.deps.config.dir);
    }
    throw AppError.notFound(`No complete backup ${id}.`);
  }

  private async isCompleteLocal(id: string): Promise<boolean> {
    try {
      const m = await this.deps.engine.readManifest(this.dirOf(id));
      return m.status === 'complete' && m.id === id;
    } catch {
      return false;
    }
  }

  private async listLocal(): Promise<BackupManifest[]> {
    let names: string[];
    try {
      names = await readdir(this.deps.config.dir);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return [];
      throw err;
    }
    const out: BackupManifest[] = [];
    for (const name of names) {
      // temporary directories of backups being written (or interrupted) never match the id pattern's rules
      if (!BACKUP_ID_PATTERN.test(name) || name.startsWith('.')) continue;
      if (!(await stat(path.join(this.deps.config.dir, name))).isDirectory()) continue;
      try {
        const m = await this.deps.engine.readManifest(path.join(this.deps.config.dir, name));
        if (m.status === 'complete' && m.id === name) out.push(m);
      } catch {
        // no manifest: not a complete backup
      }
    }
    return out;
  }

  private async writeLocalManifest(dir: string, manifest: BackupManifest): Promise<void> {
    const tmp = path.join(dir, `.manifest.${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(tmp, JSON.stringify(manifest, null, 2));
    await rename(tmp, path.join(dir, 'manifest.json'));
  }

  /** Renames first (so the backup stops being listed at once), then deletes. */
  private async removeLocal(id: string): Promise<void> {
    const dir = this.dirOf(id);
    const doomed = path.join(this.deps.config.dir, `.deleting-${id}-${randomBytes(3).toString('hex')}`);
    await rename(dir, doomed);
    await rm(doomed, { recursive: true, force: true });
  }

  private async raise(kind: string, subject: string, title: string, message: string): Promise<void> {
    try {
      await this.deps.alerts.raise({ source: 'backup', kind, subject, severity: 'critical', title, message });
    } catch (err) {
      this.deps.logger.error({ err, kind, subject }, 'backup alert could not be raised');
    }
  }
}
