/**
 * Contract between the backup engine (mongodump-format writer/reader, verification, restore,
 * encryption at rest: backup-engine.ts) and the orchestration around it (BackupRestoreService:
 * cluster lease, schedule, S3 copy, retention, jobs, API and CLI).
 *
 * A backup is a directory `<root>/<backupId>/` holding `manifest.json` and `dump/<db>/...`
 * in mongodump's `--gzip` layout. The engine writes it under a temporary name in the same
 * root and renames it into place only when complete, so a listed backup is never partial.
 */
export const BACKUP_KINDS = ['daily', 'weekly', 'manual', 'safety'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

export type BackupStatus = 'complete' | 'failed';

export interface BackupFileEntry {
  /** Path relative to the backup directory, e.g. `dump/erp/users.bson.gz`. */
  path: string;
  /** Size of the file as stored (compressed, and encrypted when encryption is on). */
  bytes: number;
  /** SHA-256 (hex) of the file as stored. */
  sha256: string;
}

export interface CollectionEntry {
  db: string;
  collection: string;
  documents: number;
  /** SHA-256 over the canonical EJSON of every document sorted by `_id`: compared after a restore. */
  digest: string;
  bson: BackupFileEntry;
  metadata: BackupFileEntry;
}

export interface VerificationRecord {
  at: string;
  ok: boolean;
  /** `checksums` re-reads every file; `restore` also restores into a scratch database and compares. */
  method: 'checksums' | 'restore';
  problems: string[];
}

export interface BackupManifest {
  formatVersion: 1;
  id: string;
  kind: BackupKind;
  status: BackupStatus;
  startedAt: string;
  finishedAt: string;
  serverVersion: string;
  appVersion: string;
  /** Replica sets only: the cluster operation time the backup started at. */
  operationTime?: { t: number; i: number };
  databases: string[];
  collections: CollectionEntry[];
  totals: { documents: number; bytes: number };
  /** Client-side encryption at rest: the data key wrapped by the EncryptionService keyring. */
  encryption?: { algorithm: 'aes-256-gcm'; keyId: string; wrappedDataKey: string };
  verification?: VerificationRecord;
  error?: string;
}

export interface BackupProgress {
  phase: 'preparing' | 'dumping' | 'uploading' | 'verifying' | 'restoring' | 'indexing' | 'done' | 'failed';
  collectionsDone: number;
  collectionsTotal: number;
  documentsDone: number;
  documentsTotal: number;
  bytes: number;
  /** Seconds left, estimated from the documents done so far; null until there is a rate. */
  etaSeconds: number | null;
}

export type ProgressListener = (progress: BackupProgress) => void;

export interface RestoreOptions {
  /** Target database name; defaults to the one recorded in the backup. Required to differ unless `overwrite`. */
  toDb?: string;
  collections?: string[];
  /** Restoring over the live database needs this explicit confirmation (the caller takes a safety backup first). */
  overwrite?: boolean;
  onProgress?: ProgressListener;
  /**
   * Cancels an overwriting restore while it is still staging (the target is then untouched).
   * Ignored once the swap has begun: the swap is metadata only and always runs to the end.
   */
  signal?: AbortSignal;
  /**
   * Collections of the target never replaced (the restore's own bookkeeping: its job journal
   * and the cluster lease it holds); the backup's copies of them are skipped.
   */
  keep?: string[];
  /** Where an overwriting restore records its staging and swap, so a killed swap can be rolled forward. */
  journal?: RestoreJournal;
}

/** A collection restored under a staging name, renamed over its target during the swap. */
export interface StagedCollection {
  staging: string;
  target: string;
}

/** Durable record of an overwriting restore (the job document); every call is one atomic single-document write. */
export interface RestoreJournal {
  staging(db: string, collections: StagedCollection[]): Promise<void>;
  /** Written before the first target is dropped. */
  swapping(): Promise<void>;
  swapped(target: string): Promise<void>;
  /** Staging was abandoned and dropped: the target was never touched. */
  rolledBack(reason: string): Promise<void>;
}

export interface RestoreResult {
  db: string;
  collections: Array<{ collection: string; documents: number; indexes: number }>;
}

/**
 * What BackupRestoreService needs from the engine (BackupEngine in backup-engine.ts implements it).
 * Paths are local directories; the S3 copy is the service's business.
 */
export interface BackupEngineApi {
  /** Writes a complete backup to `<root>/<id>/`, through a temporary directory renamed at the end. */
  create(opts: { id: string; kind: BackupKind; root: string; onProgress?: ProgressListener }): Promise<BackupManifest>;
  readManifest(dir: string): Promise<BackupManifest>;
  /** Re-reads every file and checks sizes and SHA-256 against the manifest. */
  verifyChecksums(dir: string): Promise<VerificationRecord>;
  /** verifyChecksums, then a restore into `scratchDb` comparing counts and digests; drops `scratchDb` after. */
  verifyByRestore(dir: string, scratchDb: string, onProgress?: ProgressListener): Promise<VerificationRecord>;
  /** Refuses (throws) when checksums fail. Also accepts a plain `mongodump --gzip --out` directory (no manifest). */
  restore(dir: string, opts: RestoreOptions): Promise<RestoreResult>;
  /** Writes the plain mongodump directory of an encrypted backup to `outDir`, for mongorestore. */
  decrypt(dir: string, outDir: string): Promise<void>;
  /** Finishes an interrupted swap: every staged collection still there replaces its target. */
  rollForwardSwap(
    db: string,
    collections: StagedCollection[],
    onSwapped: (target: string) => Promise<void>,
  ): Promise<void>;
  /** Drops the staging collections of an interrupted restore that never reached its swap. */
  dropStaging(db: string, collections: StagedCollection[]): Promise<void>;
}
