import { Schema, type Connection, type Model } from 'mongoose';
import type { BackupProgress } from '../services/backup-restore/backup.types';

export const BACKUP_JOB_TYPES = ['create', 'verify', 'restore', 'prune'] as const;
export type BackupJobType = (typeof BACKUP_JOB_TYPES)[number];
export type BackupJobStatus = 'running' | 'succeeded' | 'failed';

/**
 * Where an overwriting restore stands (see BackupEngine.restoreStaged): `staging` and
 * `rolled-back` leave the target untouched; `swapping` means some targets may already be
 * replaced and the swap must be rolled forward; `done` means the target is fully restored.
 */
export interface RestoreSafetyState {
  phase: 'staging' | 'swapping' | 'done' | 'rolled-back';
  db: string;
  collections: Array<{ staging: string; target: string }>;
  swapped: string[];
  /** false: the target database is exactly as before the restore. */
  targetChanged: boolean;
  /** `recovery`: the process died mid-swap and a later run finished (or rolled back) the restore. */
  finishedBy: 'process' | 'recovery' | null;
  note: string | null;
}

/**
 * One long backup operation (create, verify, restore, prune), polled by id from any worker.
 * Only the process running the job writes its document (progress, heartbeat, result), so
 * FerretDB's read-then-write updates cannot clobber it; a job whose heartbeat stops (its
 * process died) is reported as abandoned.
 */
export interface BackupJobDoc {
  _id: string;
  type: BackupJobType;
  status: BackupJobStatus;
  backupId: string | null;
  requestedBy: string | null;
  progress: BackupProgress;
  result: Record<string, unknown> | null;
  error: string | null;
  createdAt: Date;
  heartbeatAt: Date;
  finishedAt: Date | null;
  /** Overwriting restores only. */
  restore?: RestoreSafetyState | null;
}

const schema = new Schema<BackupJobDoc>(
  {
    _id: { type: String, required: true },
    type: { type: String, enum: BACKUP_JOB_TYPES, required: true },
    status: { type: String, enum: ['running', 'succeeded', 'failed'], required: true },
    backupId: { type: String, default: null },
    requestedBy: { type: String, default: null },
    progress: { type: Schema.Types.Mixed, required: true },
    result: { type: Schema.Types.Mixed, default: null },
    error: { type: String, default: null },
    createdAt: { type: Date, required: true, index: true },
    heartbeatAt: { type: Date, required: true },
    finishedAt: { type: Date, default: null },
    restore: { type: Schema.Types.Mixed, default: null },
  },
  { collection: 'backup_jobs', versionKey: false, minimize: false },
);

export type BackupJobModel = Model<BackupJobDoc>;

export function registerBackupJobModels(conn: Connection): { BackupJob: BackupJobModel } {
  return { BackupJob: (conn.models.BackupJob as BackupJobModel) ?? conn.model<BackupJobDoc>('BackupJob', schema) };
}
