import { Schema, type Connection, type Model } from 'mongoose';
import type { BackupProgress } from '../services/backup-restore/backup.types';

export const BACKUP_JOB_TYPES = ['create', 'verify', 'restore', 'prune'] as const;
export type BackupJobType = (typeof BACKUP_JOB_TYPES)[number];
export type BackupJobStatus = 'running' | 'succeeded' | 'failed';

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
  },
  { collection: 'backup_jobs', versionKey: false, minimize: false },
);

export type BackupJobModel = Model<BackupJobDoc>;

export function registerBackupJobModels(conn: Connection): { BackupJob: BackupJobModel } {
  return { BackupJob: (conn.models.BackupJob as BackupJobModel) ?? conn.model<BackupJobDoc>('BackupJob', schema) };
}
