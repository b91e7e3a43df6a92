/**
 * The backup engine: writes, verifies, restores and decrypts backups in mongodump's `--gzip`
 * directory format through the MongoDB driver (no mongodump binary needed). Orchestration
 * (lease, schedule, S3, retention, jobs, API) is BackupRestoreService's business.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Db, Document } from 'mongodb';
import { z } from 'zod';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import {
  BACKUP_KINDS,
  type BackupEngineApi,
  type BackupFileEntry,
  type BackupKind,
  type BackupManifest,
  type BackupProgress,
  type CollectionEntry,
  type ProgressListener,
  type RestoreOptions,
  type RestoreResult,
  type StagedCollection,
  type VerificationRecord,
} from './backup.types';
import {
  DocumentDigest,
  collectionPaths,
  decodeDocument,
  encodeMetadata,
  indexSpecsForCreate,
  isTruncatedStem,
  parseMetadata,
  scanDumpDirectory,
  splitBsonDocuments,
  type CollectionMetadata,
} from './dump-format';
import { BackupDecryptionError, decryptStream, encryptStream, fileAad } from './file-encryption';

/** What the engine needs from EncryptionService: wrapping and unwrapping the per-backup data key. */
export interface DataKeyWrapper {
  encrypt(plaintext: string, aad?: string): string;
  decrypt(stored: string, aad?: string): string;
  keyIdOf(stored: string): string;
}

export interface BackupEngineDeps {
  /** A driver `Db` by name (e.g. `name => database.connection.getClient().db(name)`). */
  db: (name: string) => Db;
  /** Databases a backup contains (the app's by default, chosen by the composition root). */
  databases: string[];
  encryption: DataKeyWrapper;
  /** Client-side AES-256-GCM of every backup file under a fresh data key. */
  encryptAtRest: boolean;
  appVersion: string;
  logger: Logger;
  now?: () => Date;
  /**
   * Reliability tests only: a restore stops after each staged or swapped collection until the
   * test creates `go.<step>` (or `go.staged` / `go.swapped`) in this directory, having written
   * `reached.<step>`; so a signal lands at a known point. Unset in real use.
   */
  pauseDir?: string;
  /** Restore insert batches: whichever limit is reached first. */
  batch?: { documents: number; bytes: number };
  /**
   * Restore insert batches of one collection in flight at once (default 2): the next batch is
   * read, decrypted and decoded while the server inserts the last one. Memory stays bounded
   * by this many batches.
   */
  insertConcurrency?: number;
}

const BACKUP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DB_NAME = /^[A-Za-z0-9_-]{1,63}$/;
const MANIFEST = 'manifest.json';
/** Backups being written live in `<root>/.tmp-<id>/`: never list or pick these. */
export const TEMP_DIR_PREFIX = '.tmp-';
const READ_CHUNK = 256 * 1024;

const fileEntrySchema = z.object({ path: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string() });
const manifestSchema = z.object({
  formatVersion: z.literal(1),
  id: z.string().regex(BACKUP_ID),
  kind: z.enum(BACKUP_KINDS),
  status: z.enum(['complete', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string(),
  serverVersion: z.string(),
  appVersion: z.string(),
  operationTime: z.object({ t: z.number(), i: z.number() }).optional(),
  databases: z.array(z.string()),
  collections: z.array(
    z.object({
      db: z.string().regex(DB_NAME),
      collection: z.string().min(1),
      documents: z.number().int().nonnegative(),
      digest: z.string(),
      bson: fileEntrySchema,
      metadata: fileEntrySchema,
    }),
  ),
  totals: z.object({ documents: z.number(), bytes: z.number() }),
  encryption: z
    .object({ algorithm: z.literal('aes-256-gcm'), keyId: z.string(), wrappedDataKey: z.string() })
    .optional(),
  verification: z
    .object({
      at: z.string(),
      ok: z.boolean(),
      method: z.enum(['checksums', 'restore']),
      problems: z.array(z.string()),
    })
    .optional(),
  error: z.string().optional(),
});

/** One collection to restore, from a manifest or from a plain mongodump directory. */
interface RestoreItem {
  db: string;
  collection: string;
  bson: string;
  metadata?: string;
  gzip: boolean;
  documents: number;
  storedBytes: number;
}

interface RestoreSource {
  manifest?: BackupManifest;
  items: RestoreItem[];
  dataKey?: Buffer;
}

/** Tracks progress and estimates the time left from the documents done so far. */
class ProgressTracker {
  readonly state: BackupProgress;
  private readonly startedAt: number;
  constructor(
    private readonly now: () => Date,
    private readonly listener: ProgressListener | undefined,
    phase: BackupProgress['phase'],
    collectionsTotal: number,
    documentsTotal: number,
  ) {
    this.startedAt = now().getTime();
    this.state = {
      phase,
      collectionsDone: 0,
      collectionsTotal,
      documentsDone: 0,
      documentsTotal,
      bytes: 0,
      etaSeconds: null,
    };
  }
  emit(patch: Partial<BackupProgress> = {}): void {
    Object.assign(this.state, patch);
    const elapsed = (this.now().getTime() - this.startedAt) / 1000;
    const { documentsDone, documentsTotal } = this.state;
    this.state.etaSeconds =
      elapsed > 0 && documentsDone > 0
        ? Math.max(0, Math.round(((documentsTotal - documentsDone) * elapsed) / documentsDone))
        : null;
    if (this.state.phase === 'done') this.state.etaSeconds = 0;
    this.listener?.({ ...this.state });
  }
}

export class BackupEngine implements BackupEngineApi {
  private readonly now: () => Date;
  private readonly log: Logger;
  private readonly batch: { documents: number; bytes: number };
  private readonly insertConcurrency: number;

  constructor(private readonly deps: BackupEngineDeps) {
    this.now = deps.now ?? (() => new Date());
    this.log = deps.logger.child({ component: 'backup-engine' });
    this.batch = deps.batch ?? { documents: 1000, bytes: 8 * 1024 * 1024 };
    this.insertConcurrency = Math.max(1, deps.insertConcurrency ?? 2);
    for (const db of deps.databases) {
      if (!DB_NAME.test(db)) throw new Error(`backup engine: unsupported database name ${JSON.stringify(db)}`);
    }
  }

  // ---------------------------------------------------------------- create

  async create(opts: {
    id: string;
    kind: BackupKind;
    root: string;
    onProgress?: ProgressListener;
  }): Promise<BackupManifest> {
    const { id, kind, root } = opts;
    if (!BACKUP_ID.test(id)) throw AppError.badRequest(`Invalid backup id: ${id}`);
    if (!BACKUP_KINDS.includes(kind)) throw AppError.badRequest(`Invalid backup kind: ${String(kind)}`);
    const finalDir = path.join(root, id);
    if (await exists(finalDir)) throw AppError.conflict(`Backup ${id} already exists.`, 'backup-exists');
    const tmpDir = path.join(root, `${TEMP_DIR_PREFIX}${id}`);
    await fs.mkdir(root, { recursive: true });
    // A leftover from a crashed run of the same id is never a valid backup.
    await fs.rm(tmpDir, { recursive: true, force: true });
    await fs.mkdir(tmpDir);

    const startedAt = this.now();
    const dataKey = this.deps.encryptAtRest ? randomBytes(32) : undefined;
    try {
      // Wrapped first: a keyring problem fails the backup before anything is dumped.
      const encryption: BackupManifest['encryption'] = dataKey ? this.wrapDataKey(id, dataKey) : undefined;
      const admin = this.deps.db(this.deps.databases[0] ?? 'admin').admin();
      const hello = await admin.command({ hello: 1 }).catch(() => admin.command({ isMaster: 1 }));
      const buildInfo = await admin.command({ buildInfo: 1 });
      const operationTime = hello.setName ? timestampOf(hello.operationTime) : undefined;

      const plan: Array<{ db: string; info: Document; estimate: number }> = [];
      for (const dbName of this.deps.databases) {
        const db = this.deps.db(dbName);
        const infos = await db.listCollections({}, { nameOnly: false }).toArray();
        for (const info of infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          if (info.name.startsWith('system.')) continue;
          if (info.type !== undefined && info.type !== 'collection') {
            this.log.warn({ db: dbName, collection: info.name, type: info.type }, 'backup skips non-collection');
            continue;
          }
          const estimate = await db.collection(info.name).estimatedDocumentCount();
          plan.push({ db: dbName, info, estimate });
        }
      }

      const progress = new ProgressTracker(
        this.now,
        opts.onProgress,
        'dumping',
        plan.length,
        plan.reduce((n, p) => n + p.estimate, 0),
      );
      progress.emit();
      const collections: CollectionEntry[] = [];
      for (const { db, info } of plan) {
        const entry = await this.dumpCollection(tmpDir, id, db, info, dataKey, progress);
        collections.push(entry);
        progress.emit({ collectionsDone: progress.state.collectionsDone + 1 });
      }

      const manifest: BackupManifest = {
        formatVersion: 1,
        id,
        kind,
        status: 'complete',
        startedAt: startedAt.toISOString(),
        finishedAt: this.now().toISOString(),
        serverVersion: typeof buildInfo.version === 'string' ? buildInfo.version : 'unknown',
        appVersion: this.deps.appVersion,
        ...(operationTime ? { operationTime } : {}),
        databases: [...this.deps.databases],
        collections,
        totals: {
          documents: collections.reduce((n, c) => n + c.documents, 0),
          bytes: collections.reduce((n, c) => n + c.bson.bytes + c.metadata.bytes, 0),
        },
      };
      if (encryption) manifest.encryption = encryption;
      await writeFileDurably(path.join(tmpDir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
      await fsyncDir(tmpDir);
      // The rename is the commit point: before it the backup does not exist under its id.
      await fs.rename(tmpDir, finalDir);
      await fsyncDir(root);
      progress.emit({ phase: 'done' });
      this.log.info(
        { backupId: id, kind, collections: collections.length, documents: manifest.totals.documents },
        'backup written',
      );
      return manifest;
    } catch (err) {
      await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    } finally {
      dataKey?.fill(0);
    }
  }

  private async dumpCollection(
    dir: string,
    backupId: string,
    dbName: string,
    info: Document,
    dataKey: Buffer | undefined,
    progress: ProgressTracker,
  ): Promise<CollectionEntry> {
    const name = info.name as string;
    const db = this.deps.db(dbName);
    const collection = db.collection(name);
    const rel = collectionPaths(dbName, name);
    await fs.mkdir(path.join(dir, 'dump', dbName), { recursive: true });

    const uuid = info.info?.uuid as { buffer?: Uint8Array } | undefined;
    const indexes = await collection.listIndexes({ promoteValues: false, promoteLongs: false }).toArray();
    const metadata: CollectionMetadata = {
      options: (info.options as Document | undefined) ?? {},
      indexes,
      uuid: uuid?.buffer ? Buffer.from(uuid.buffer).toString('hex') : undefined,
      collectionName: name,
      type: 'collection',
    };
    const metadataFile = await this.writeStoredFile(
      dir,
      rel.metadata,
      [Buffer.from(encodeMetadata(metadata), 'utf8')],
      backupId,
      dataKey,
    );

    const digest = new DocumentDigest();
    const cursor = collection.find({}, { sort: { _id: 1 }, raw: true, batchSize: 1000 });
    const documents = async function* (): AsyncGenerator<Buffer> {
      try {
        for await (const doc of cursor) {
          const raw = doc as unknown as Buffer;
          digest.update(raw);
          progress.state.documentsDone++;
          if (progress.state.documentsDone % 1000 === 0) progress.emit();
          yield raw;
        }
      } finally {
        await cursor.close();
      }
    };
    const bsonFile = await this.writeStoredFile(dir, rel.bson, documents(), backupId, dataKey);
    progress.state.bytes += bsonFile.bytes + metadataFile.bytes;
    return {
      db: dbName,
      collection: name,
      documents: digest.count,
      digest: digest.hex(),
      bson: bsonFile,
      metadata: metadataFile,
    };
  }

  /** gzip (then encrypt) a stream into `<dir>/<rel>`, hashing and counting the stored bytes. */
  private async writeStoredFile(
    dir: string,
    rel: string,
    source: AsyncIterable<Buffer> | Iterable<Buffer>,
    backupId: string,
    dataKey: Buffer | undefined,
  ): Promise<BackupFileEntry> {
    const abs = path.join(dir, rel);
    const hash = createHash('sha256');
    let bytes = 0;
    const count = async function* (src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const chunk of src) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    };
    const gzip = createGzip();
    const out = createWriteStream(abs, { flags: 'wx' });
    if (dataKey) {
      const aad = fileAad(backupId, rel);
      await pipeline(source, gzip, (src: AsyncIterable<Buffer>) => encryptStream(src, dataKey, aad), count, out);
    } else {
      await pipeline(source, gzip, count, out);
    }
    await fsyncFile(abs);
    return { path: rel, bytes, sha256: hash.digest('hex') };
  }

  // ---------------------------------------------------------------- read & verify

  async readManifest(dir: string): Promise<BackupManifest> {
    let text: string;
    try {
      text = await fs.readFile(path.join(dir, MANIFEST), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw AppError.notFound(`No backup manifest in ${dir}.`);
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError({
        code: 'backup-manifest-invalid',
        status: 422,
        title: 'Invalid backup manifest',
        detail: 'manifest.json is not JSON.',
      });
    }
    const parsed = manifestSchema.safeParse(json);
    if (!parsed.success) {
      throw new AppError({
        code: 'backup-manifest-invalid',
        status: 422,
        title: 'Invalid backup manifest',
        detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
    }
    for (const c of parsed.data.collections) {
      for (const f of [c.bson, c.metadata]) {
        if (!isSafeRelative(f.path)) {
          throw new AppError({
            code: 'backup-manifest-invalid',
            status: 422,
            title: 'Invalid backup manifest',
            detail: `File path outside the backup: ${f.path}`,
          });
        }
      }
    }
    return parsed.data as BackupManifest;
  }

  async verifyChecksums(dir: string): Promise<VerificationRecord> {
    const manifest = await this.readManifest(dir);
    const problems: string[] = [];
    if (manifest.status !== 'complete') problems.push(`backup status is ${manifest.status}`);
    let dataKey: Buffer | undefined;
    if (manifest.encryption) {
      try {
        dataKey = this.unwrapDataKey(manifest);
      } catch {
        problems.push(`the data key cannot be unwrapped (key ${manifest.encryption.keyId})`);
      }
    }
    try {
      for (const c of manifest.collections) {
        for (const file of [c.metadata, c.bson]) {
          const problem = await this.checkFile(dir, manifest, file, dataKey);
          if (problem) problems.push(problem);
        }
      }
    } finally {
      dataKey?.fill(0);
    }
    const record: VerificationRecord = {
      at: this.now().toISOString(),
      ok: problems.length === 0,
      method: 'checksums',
      problems,
    };
    if (!record.ok) this.log.warn({ backupId: manifest.id, problems }, 'backup checksum verification failed');
    return record;
  }

  /** One pass over a stored file: size, SHA-256 and, when encrypted, the GCM tag. */
  private async checkFile(
    dir: string,
    manifest: BackupManifest,
    file: BackupFileEntry,
    dataKey: Buffer | undefined,
  ): Promise<string | undefined> {
    const abs = path.join(dir, file.path);
    const hash = createHash('sha256');
    let bytes = 0;
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of createReadStream(abs, { highWaterMark: READ_CHUNK })) {
        const b = chunk as Buffer;
        hash.update(b);
        bytes += b.length;
        yield b;
      }
    }
    try {
      if (dataKey) {
        // Draining the decrypted stream authenticates the file (the tag check runs at its end).
        for await (const _ of decryptStream(hashed(), dataKey, fileAad(manifest.id, file.path))) void _;
      } else {
        for await (const _ of hashed()) void _;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${file.path}: missing`;
      if (err instanceof BackupDecryptionError) return `${file.path}: ${err.message}`;
      return `${file.path}: unreadable (${(err as Error).message})`;
    }
    if (bytes !== file.bytes) return `${file.path}: size ${bytes} differs from manifest ${file.bytes}`;
    const sha = hash.digest('hex');
    if (sha !== file.sha256) return `${file.path}: SHA-256 differs from manifest`;
    return undefined;
  }

  async verifyByRestore(dir: string, scratchDb: string, onProgress?: ProgressListener): Promise<VerificationRecord> {
    const checks = await this.verifyChecksums(dir);
    if (!checks.ok) return { ...checks, method: 'restore' };
    const manifest = await this.readManifest(dir);
    assertDbName(scratchDb);
    if (manifest.databases.includes(scratchDb) || this.deps.databases.includes(scratchDb)) {
      throw AppError.badRequest(`The scratch database must not be a backed-up database: ${scratchDb}`);
    }
    await this.assertEmptyDb(scratchDb);
    const problems: string[] = [];
    const source = await this.openSource(dir, manifest);
    try {
      for (const dbName of unique(source.items.map((i) => i.db))) {
        const items = source.items.filter((i) => i.db === dbName);
        try {
          await this.restoreItems(dir, source, items, scratchDb, false, onProgress);
          for (const c of manifest.collections.filter((m) => m.db === dbName)) {
            const got = await digestCollection(this.deps.db(scratchDb), c.collection);
            if (got.documents !== c.documents) {
              problems.push(`${dbName}.${c.collection}: ${got.documents} documents restored, ${c.documents} in backup`);
            } else if (got.digest !== c.digest) {
              problems.push(`${dbName}.${c.collection}: restored documents differ from the backup (digest)`);
            }
          }
        } catch (err) {
          problems.push(`${dbName}: restore failed (${(err as Error).message})`);
        } finally {
          await this.deps
            .db(scratchDb)
            .dropDatabase()
            .catch(() => undefined);
        }
      }
    } finally {
      source.dataKey?.fill(0);
    }
    const record: VerificationRecord = {
      at: this.now().toISOString(),
      ok: problems.length === 0,
      method: 'restore',
      problems,
    };
    this.log.info({ backupId: manifest.id, ok: record.ok, problems }, 'backup verified by restore');
    return record;
  }

  // ---------------------------------------------------------------- restore

  async restore(dir: string, opts: RestoreOptions): Promise<RestoreResult> {
    const hasManifest = await exists(path.join(dir, MANIFEST));
    let manifest: BackupManifest | undefined;
    if (hasManifest) manifest = await this.readVerifiedManifest(dir, 'restored');
    const source = await this.openSource(dir, manifest);
    try {
      if (source.items.length === 0) throw AppError.badRequest(`No collections found in ${dir}.`);
      const sourceDbs = unique(source.items.map((i) => i.db));
      if (opts.toDb !== undefined) assertDbName(opts.toDb);
      if (opts.toDb && sourceDbs.length > 1) {
        throw AppError.badRequest('This backup holds several databases; restore them without toDb.');
      }
      if (
        !opts.overwrite &&
        (opts.toDb === undefined || sourceDbs.includes(opts.toDb) || this.deps.databases.includes(opts.toDb))
      ) {
        throw AppError.conflict(
          'Restoring into the original database needs the explicit overwrite confirmation; or give another toDb.',
          'restore-needs-confirmation',
        );
      }
      const keep = new Set(opts.keep ?? []);
      let items = source.items.filter((i) => !keep.has(i.collection));
      if (opts.collections && opts.collections.length > 0) {
        const wanted = new Set(opts.collections);
        const missing = [...wanted].filter((c) => !items.some((i) => i.collection === c));
        if (missing.length > 0) throw AppError.badRequest(`Not in the backup: ${missing.join(', ')}`);
        items = items.filter((i) => wanted.has(i.collection));
      }
      if (!manifest) await this.validatePlainDump(dir, items);
      const results: RestoreResult['collections'] = [];
      let targetDb = opts.toDb ?? sourceDbs[0]!;
      for (const dbName of sourceDbs) {
        targetDb = opts.toDb ?? dbName;
        const forDb = items.filter((i) => i.db === dbName);
        results.push(
          ...(opts.overwrite === true
            ? await this.restoreStaged(dir, source, forDb, targetDb, opts)
            : await this.restoreItems(dir, source, forDb, targetDb, false, opts.onProgress)),
        );
      }
      this.log.info(
        { dir: path.basename(dir), db: targetDb, collections: results.length, overwrite: opts.overwrite === true },
        'backup restored',
      );
      return { db: targetDb, collections: results };
    } finally {
      source.dataKey?.fill(0);
    }
  }

  /** The collections to restore and the data key, from a manifest or by scanning a mongodump directory. */
  private async openSource(dir: string, manifest: BackupManifest | undefined): Promise<RestoreSource> {
    if (manifest) {
      return {
        manifest,
        dataKey: manifest.encryption ? this.unwrapDataKey(manifest) : undefined,
        items: manifest.collections.map((c) => ({
          db: c.db,
          collection: c.collection,
          bson: c.bson.path,
          metadata: c.metadata.path,
          gzip: true,
          documents: c.documents,
          storedBytes: c.bson.bytes,
        })),
      };
    }
    let entries;
    try {
      entries = await scanDumpDirectory(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw AppError.notFound(`No backup or dump at ${dir}.`);
      throw err;
    }
    const items: RestoreItem[] = [];
    for (const e of entries) {
      let collection = e.collection;
      const stem = path.posix.basename(e.bson).replace(/\.bson(\.gz)?$/, '');
      if (isTruncatedStem(stem) && e.metadata) {
        collection = (await this.readMetadata(dir, e.metadata, e.gzip, undefined, undefined, collection))
          .collectionName;
      }
      const stat = await fs.stat(path.join(dir, e.bson));
      items.push({ ...e, collection, documents: 0, storedBytes: stat.size });
    }
    return { items };
  }

  /** A plain mongodump directory has no checksums: read it fully once (gzip CRC, BSON framing) before writing. */
  private async validatePlainDump(dir: string, items: RestoreItem[]): Promise<void> {
    for (const item of items) {
      let documents = 0;
      try {
        for await (const _ of splitBsonDocuments(this.plainStream(dir, item, undefined, undefined))) {
          void _;
          documents++;
        }
        if (item.metadata)
          await this.readMetadata(dir, item.metadata, item.gzip, undefined, undefined, item.collection);
      } catch (err) {
        throw verificationFailed(`${item.bson} is unreadable (${(err as Error).message}); nothing was restored.`);
      }
      item.documents = documents;
    }
  }

  /**
   * Restoring over existing collections: everything is first restored under staging names
   * (`__restore_<token>_<name>`) while the target stays untouched, then each staging collection
   * is renamed over its target. FerretDB refuses `renameCollection` with `dropTarget`, so the
   * swap is drop + rename per collection; the journal records the plan before the first drop
   * and every collection swapped, so a process killed mid-swap is rolled forward from it.
   */
  private async restoreStaged(
    dir: string,
    source: RestoreSource,
    items: RestoreItem[],
    targetDbName: string,
    opts: RestoreOptions,
  ): Promise<RestoreResult['collections']> {
    const token = randomBytes(4).toString('hex');
    const staged: StagedCollection[] = items.map((i) => ({
      staging: `${STAGING_PREFIX}${token}_${i.collection}`,
      target: i.collection,
    }));
    const journal = opts.journal;
    await journal?.staging(targetDbName, staged);
    let results: RestoreResult['collections'];
    try {
      results = await this.restoreItems(
        dir,
        source,
        items,
        targetDbName,
        false,
        opts.onProgress,
        new Map(staged.map((s) => [s.target, s.staging])),
        opts.signal,
      );
      await this.testPause('staged', 'all', opts.signal);
      if (opts.signal?.aborted) throw cancelled();
    } catch (err) {
      // restoreItems already dropped what it created; the target was never touched.
      await this.dropStaging(targetDbName, staged).catch(() => undefined);
      await journal
        ?.rolledBack(err instanceof Error ? err.message : String(err))
        .catch((e: unknown) => this.log.error({ err: e }, 'restore rollback not journalled'));
      throw err;
    }
    // From here on the swap is not cancellable: it only renames, and stopping half-way is what it avoids.
    await journal?.swapping();
    await this.rollForwardSwap(targetDbName, staged, async (target) => {
      await journal?.swapped(target);
      await this.testPause('swapped', target);
    });
    return results;
  }

  private async testPause(kind: 'staged' | 'swapped', name: string, signal?: AbortSignal): Promise<void> {
    const dir = this.deps.pauseDir;
    if (!dir) return;
    await fs.writeFile(path.join(dir, `reached.${kind}.${name}`), '');
    const released = async () =>
      signal?.aborted === true ||
      (await exists(path.join(dir, `go.${kind}`))) ||
      (await exists(path.join(dir, `go.${kind}.${name}`)));
    while (!(await released())) await new Promise((r) => setTimeout(r, 50));
  }

  async rollForwardSwap(
    dbName: string,
    collections: StagedCollection[],
    onSwapped: (target: string) => Promise<void>,
  ): Promise<void> {
    assertDbName(dbName);
    const db = this.deps.db(dbName);
    for (const { staging, target } of collections) {
      assertStagingName(staging);
      const present = await db.listCollections({ name: staging }, { nameOnly: true }).toArray();
      // Absent: renamed already by a run that died before journalling it.
      if (present.length > 0) {
        await db.collection(target).drop();
        await db.renameCollection(staging, target);
      }
      await onSwapped(target);
    }
  }

  async dropStaging(dbName: string, collections: StagedCollection[]): Promise<void> {
    assertDbName(dbName);
    const db = this.deps.db(dbName);
    for (const { staging } of collections) {
      assertStagingName(staging);
      await db.collection(staging).drop();
    }
  }

  private async restoreItems(
    dir: string,
    source: RestoreSource,
    items: RestoreItem[],
    targetDbName: string,
    overwrite: boolean,
    onProgress: ProgressListener | undefined,
    stagingNames?: Map<string, string>,
    signal?: AbortSignal,
  ): Promise<RestoreResult['collections']> {
    const db = this.deps.db(targetDbName);
    const nameOf = (collection: string): string => stagingNames?.get(collection) ?? collection;
    const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
    if (!overwrite) {
      const taken = items.filter((i) => existing.has(nameOf(i.collection))).map((i) => nameOf(i.collection));
      if (taken.length > 0) {
        throw AppError.conflict(
          `Target collections already exist in ${targetDbName}: ${taken.join(', ')} (restore into another database or confirm overwrite).`,
          'restore-target-exists',
        );
      }
    }
    const progress = new ProgressTracker(
      this.now,
      onProgress,
      'restoring',
      items.length,
      items.reduce((n, i) => n + i.documents, 0),
    );
    progress.emit();
    const created: string[] = [];
    const results: RestoreResult['collections'] = [];
    // Insert batches still running: settled before anything is dropped or reported.
    const inFlight = new Set<Promise<void>>();
    try {
      for (const item of items) {
        const manifestId = source.manifest?.id;
        const meta: CollectionMetadata = item.metadata
          ? await this.readMetadata(dir, item.metadata, item.gzip, source.dataKey, manifestId, item.collection)
          : { options: {}, indexes: [], collectionName: item.collection };
        const name = nameOf(item.collection);
        if (overwrite && existing.has(name)) await db.collection(name).drop();
        await db.createCollection(name, meta.options);
        created.push(name);
        const coll = db.collection(name);

        let batch: Document[] = [];
        let batchBytes = 0;
        let documents = 0;
        // The first failed insert of this collection (an array: closures below fill it).
        const failures: unknown[] = [];
        const flush = async (): Promise<void> => {
          if (failures.length) throw failures[0];
          if (signal?.aborted) throw cancelled();
          if (batch.length === 0) return;
          const docs = batch;
          const bytes = batchBytes;
          batch = [];
          batchBytes = 0;
          const insert: Promise<void> = coll
            .insertMany(docs, { ordered: true })
            .then(() => {
              documents += docs.length;
              progress.state.documentsDone += docs.length;
              progress.state.bytes += bytes;
              progress.emit();
            })
            .catch((err: unknown) => {
              failures.push(err);
            })
            .finally(() => inFlight.delete(insert));
          inFlight.add(insert);
          if (inFlight.size >= this.insertConcurrency) await Promise.race(inFlight);
          if (failures.length) throw failures[0];
        };
        for await (const raw of splitBsonDocuments(this.plainStream(dir, item, source.dataKey, manifestId))) {
          if (batch.length > 0 && batchBytes + raw.length > this.batch.bytes) await flush();
          batch.push(decodeDocument(raw));
          batchBytes += raw.length;
          if (batch.length >= this.batch.documents) await flush();
        }
        await flush();
        await Promise.all(inFlight);
        if (failures.length) throw failures[0];

        progress.emit({ phase: 'indexing' });
        const specs = indexSpecsForCreate(meta);
        if (specs.length > 0) await db.command({ createIndexes: name, indexes: specs });
        results.push({ collection: item.collection, documents, indexes: specs.length });
        if (stagingNames) await this.testPause('staged', item.collection, signal);
        progress.emit({ phase: 'restoring', collectionsDone: progress.state.collectionsDone + 1 });
      }
    } catch (err) {
      await Promise.allSettled(inFlight);
      progress.emit({ phase: 'failed' });
      // A failed restore into a new database leaves nothing half-written behind.
      if (!overwrite) {
        for (const name of created)
          await db
            .collection(name)
            .drop()
            .catch(() => undefined);
      }
      throw err;
    }
    progress.emit({ phase: 'done' });
    return results;
  }

  /** The plain (decrypted, gunzipped) bytes of a stored BSON file. */
  private async *plainStream(
    dir: string,
    item: { bson: string; gzip: boolean },
    dataKey: Buffer | undefined,
    backupId: string | undefined,
  ): AsyncGenerator<Buffer> {
    yield* this.plainBytes(dir, item.bson, item.gzip, dataKey, backupId);
  }

  private async *plainBytes(
    dir: string,
    rel: string,
    gzip: boolean,
    dataKey: Buffer | undefined,
    backupId: string | undefined,
  ): AsyncGenerator<Buffer> {
    const file = createReadStream(path.join(dir, rel), { highWaterMark: READ_CHUNK });
    const stored: AsyncIterable<Buffer> =
      dataKey && backupId ? decryptStream(file, dataKey, fileAad(backupId, rel)) : (file as AsyncIterable<Buffer>);
    if (!gzip) {
      yield* stored;
      return;
    }
    const gunzip = createGunzip();
    const feeding = pipeline(stored, gunzip).catch((err: unknown) => {
      gunzip.destroy(err as Error);
    });
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } finally {
      gunzip.destroy();
      await feeding;
    }
  }

  private async readMetadata(
    dir: string,
    rel: string,
    gzip: boolean,
    dataKey: Buffer | undefined,
    backupId: string | undefined,
    fallbackName: string,
  ): Promise<CollectionMetadata> {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.plainBytes(dir, rel, gzip, dataKey, backupId)) {
      size += chunk.length;
      if (size > 16 * 1024 * 1024) throw new Error(`${rel}: metadata larger than 16 MiB`);
      parts.push(chunk);
    }
    return parseMetadata(Buffer.concat(parts).toString('utf8'), fallbackName);
  }

  // ---------------------------------------------------------------- decrypt

  async decrypt(dir: string, outDir: string): Promise<void> {
    const manifest = await this.readVerifiedManifest(dir, 'decrypted');
    if (await exists(outDir)) {
      if ((await fs.readdir(outDir)).length > 0) throw AppError.conflict(`Output directory is not empty: ${outDir}`);
    }
    await fs.mkdir(outDir, { recursive: true });
    const dataKey = manifest.encryption ? this.unwrapDataKey(manifest) : undefined;
    try {
      for (const c of manifest.collections) {
        for (const file of [c.metadata, c.bson]) {
          const target = path.join(outDir, file.path);
          await fs.mkdir(path.dirname(target), { recursive: true });
          const stored = createReadStream(path.join(dir, file.path), { highWaterMark: READ_CHUNK });
          const plain = dataKey ? decryptStream(stored, dataKey, fileAad(manifest.id, file.path)) : stored;
          await pipeline(plain, createWriteStream(target, { flags: 'wx' }));
        }
      }
    } catch (err) {
      await fs.rm(path.join(outDir, 'dump'), { recursive: true, force: true }).catch(() => undefined);
      throw err;
    } finally {
      dataKey?.fill(0);
    }
    this.log.info({ backupId: manifest.id }, 'backup decrypted to a plain mongodump directory');
  }

  // ---------------------------------------------------------------- helpers

  /** The manifest of a backup whose files all pass their checksums; a 409 naming what was not done otherwise. */
  private async readVerifiedManifest(dir: string, notDone: 'restored' | 'decrypted'): Promise<BackupManifest> {
    const manifest = await this.readManifest(dir);
    const checks = await this.verifyChecksums(dir);
    if (!checks.ok) {
      throw verificationFailed(`Backup ${manifest.id} fails verification; nothing was ${notDone}.`, checks.problems);
    }
    return manifest;
  }

  private wrapDataKey(id: string, dataKey: Buffer): NonNullable<BackupManifest['encryption']> {
    const wrappedDataKey = this.deps.encryption.encrypt(dataKey.toString('base64'), dataKeyAad(id));
    return { algorithm: 'aes-256-gcm', keyId: this.deps.encryption.keyIdOf(wrappedDataKey), wrappedDataKey };
  }

  private unwrapDataKey(manifest: BackupManifest): Buffer {
    if (!manifest.encryption) throw new Error('backup is not encrypted');
    const key = Buffer.from(
      this.deps.encryption.decrypt(manifest.encryption.wrappedDataKey, dataKeyAad(manifest.id)),
      'base64',
    );
    if (key.length !== 32) throw new BackupDecryptionError('wrapped data key has the wrong length');
    return key;
  }

  private async assertEmptyDb(name: string): Promise<void> {
    const colls = await this.deps.db(name).listCollections({}, { nameOnly: true }).toArray();
    if (colls.length > 0) throw AppError.conflict(`The scratch database ${name} is not empty.`, 'scratch-db-not-empty');
  }
}

/** Staging collections of an overwriting restore; nothing else is ever dropped or renamed by the swap. */
export const STAGING_PREFIX = '__restore_';

function assertStagingName(name: string): void {
  if (!name.startsWith(STAGING_PREFIX)) throw new Error(`not a restore staging collection: ${name}`);
}

function cancelled(): AppError {
  return new AppError({
    code: 'restore-cancelled',
    status: 409,
    title: 'Restore cancelled',
    detail: 'The restore was cancelled (shutdown) while staging; the target database is untouched.',
  });
}

function verificationFailed(detail: string, problems?: string[]): AppError {
  return new AppError({
    code: 'backup-verification-failed',
    status: 409,
    title: 'Backup verification failed',
    detail,
    ...(problems ? { extensions: { problems } } : {}),
  });
}

/** SHA-256 over the canonical EJSON of a collection's documents sorted by `_id` (as in the manifest). */
export async function digestCollection(db: Db, collection: string): Promise<{ documents: number; digest: string }> {
  const digest = new DocumentDigest();
  const cursor = db.collection(collection).find({}, { sort: { _id: 1 }, raw: true, batchSize: 1000 });
  for await (const doc of cursor) digest.update(doc as unknown as Buffer);
  return { documents: digest.count, digest: digest.hex() };
}

function dataKeyAad(backupId: string): string {
  return `backup:${backupId}`;
}

function timestampOf(value: unknown): { t: number; i: number } | undefined {
  if (value && typeof value === 'object' && 't' in value && 'i' in value) {
    const ts = value as { t: unknown; i: unknown };
    if (typeof ts.t === 'number' && typeof ts.i === 'number') return { t: ts.t, i: ts.i };
  }
  return undefined;
}

function assertDbName(name: string): void {
  if (!DB_NAME.test(name)) throw AppError.badRequest(`Invalid database name: ${name}`);
}

function isSafeRelative(rel: string): boolean {
  return (
    rel.length > 0 &&
    !path.posix.isAbsolute(rel) &&
    path.posix.normalize(rel) === rel &&
    !rel.split('/').includes('..') &&
    !rel.includes('\\') &&
    rel.startsWith('dump/')
  );
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** fsync of a path: a file opened for writing, a directory read-only (it cannot be opened otherwise). */
async function fsyncPath(p: string, flags: 'r+' | 'r'): Promise<void> {
  const fh = await fs.open(p, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const fsyncFile = (p: string): Promise<void> => fsyncPath(p, 'r+');
const fsyncDir = (p: string): Promise<void> => fsyncPath(p, 'r');

async function writeFileDurably(p: string, text: string): Promise<void> {
  await fs.writeFile(p, text, { flag: 'wx' });
  await fsyncFile(p);
}
