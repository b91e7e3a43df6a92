import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ObjectLockMode,
  type PutObjectCommandInput,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Logger } from '../../lib/logger';
import type { BackupFileEntry, BackupManifest } from './backup.types';

export interface S3StorageConfig {
  bucket: string;
  /** Key prefix, e.g. `backups/` (a trailing slash is added when missing). */
  prefix: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  sse: 'none' | 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  objectLock?: { days: number; mode: 'COMPLIANCE' | 'GOVERNANCE' };
}

/** A backup as stored in S3: its manifest, and the Object Lock retention of that manifest. */
export interface RemoteBackup {
  manifest: BackupManifest;
  lockedUntil?: Date;
}

export interface S3DeleteResult {
  deleted: boolean;
  lockedUntil?: Date;
}

/** Files larger than this go up as a streamed multipart Upload; smaller ones in one checksummed PUT. */
const SINGLE_PUT_MAX_BYTES = 64 * 1024 * 1024;
const MANIFEST = 'manifest.json';

const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

/**
 * The off-site copy of backups in S3 (or any S3-compatible service). Every data file is
 * uploaded with its SHA-256, which the server checks (a mismatch is refused), and then
 * checked back with HeadObject (size and checksum); the manifest goes last, so a backup
 * whose upload was interrupted has no manifest in S3 and is never listed. Transient
 * failures are retried with exponential backoff.
 */
export class S3Storage {
  readonly client: S3Client;
  private readonly prefix: string;
  private readonly now: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly attempts: number;

  constructor(
    private readonly deps: {
      config: S3StorageConfig;
      logger: Logger;
      client?: S3Client;
      now?: () => Date;
      /** Attempts per operation (1 = no retry). */
      attempts?: number;
      sleep?: (ms: number) => Promise<void>;
      /** Files above this go up as a streamed multipart Upload (default 64 MiB). */
      multipartThresholdBytes?: number;
      /** Keys per ListObjectsV2 page (default 1000, the S3 maximum). */
      listPageSize?: number;
    },
  ) {
    const c = deps.config;
    this.client =
      deps.client ??
      new S3Client({
        region: c.region,
        endpoint: c.endpoint,
        forcePathStyle: c.forcePathStyle,
        credentials: c.credentials,
      });
    this.prefix = c.prefix === '' || c.prefix.endsWith('/') ? c.prefix : `${c.prefix}/`;
    this.now = deps.now ?? (() => new Date());
    this.attempts = deps.attempts ?? 4;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get bucket(): string {
    return this.deps.config.bucket;
  }

  keyOf(backupId: string, file: string): string {
    return `${this.prefix}${backupId}/${file}`;
  }

  private async retry<T>(what: string, op: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        // 4xx other than throttling/timeouts are answers, not glitches: retrying would not help
        const permanent = status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
        if (permanent || attempt >= this.attempts) throw err;
        const delay = 200 * 2 ** (attempt - 1);
        this.deps.logger.warn({ what, attempt, delay, err }, 's3 operation failed; retrying');
        await this.sleep(delay);
      }
    }
  }

  private protection(): Partial<PutObjectCommandInput> {
    const c = this.deps.config;
    const params: Partial<PutObjectCommandInput> = {};
    if (c.sse !== 'none') params.ServerSideEncryption = c.sse as ServerSideEncryption;
    if (c.sse === 'aws:kms' && c.kmsKeyId) params.SSEKMSKeyId = c.kmsKeyId;
    if (c.objectLock) {
      params.ObjectLockMode = c.objectLock.mode as ObjectLockMode;
      params.ObjectLockRetainUntilDate = new Date(this.now().getTime() + c.objectLock.days * 86_400_000);
    }
    return params;
  }

  private async putFile(localPath: string, key: string, entry: BackupFileEntry): Promise<void> {
    const base = { Bucket: this.bucket, Key: key, ...this.protection(), Metadata: { sha256: entry.sha256 } };
    if (entry.bytes <= (this.deps.multipartThresholdBytes ?? SINGLE_PUT_MAX_BYTES)) {
      await this.retry(`put ${key}`, () =>
        this.client.send(
          new PutObjectCommand({
            ...base,
            Body: createReadStream(localPath),
            ContentLength: entry.bytes,
            ChecksumSHA256: hexToBase64(entry.sha256),
          }),
        ),
      );
    } else {
      await this.retry(`upload ${key}`, () =>
        new Upload({
          client: this.client,
          params: { ...base, Body: createReadStream(localPath), ChecksumAlgorithm: 'SHA256' },
          queueSize: 2,
          partSize: 8 * 1024 * 1024,
          leavePartsOnError: false,
        }).done(),
      );
    }
    await this.checkUploaded(key, entry);
  }

  /** HeadObject: the stored object has the size and SHA-256 the manifest records. */
  private async checkUploaded(key: string, entry: BackupFileEntry): Promise<void> {
    const head = await this.retry(`head ${key}`, () =>
      this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' })),
    );
    if (head.ContentLength !== entry.bytes)
      throw new Error(`s3 object ${key} has ${head.ContentLength} bytes, expected ${entry.bytes}`);
    const single = head.ChecksumSHA256 && !head.ChecksumSHA256.includes('-');
    if (single && head.ChecksumSHA256 !== hexToBase64(entry.sha256))
      throw new Error(`s3 object ${key} has SHA-256 ${head.ChecksumSHA256}, expected ${hexToBase64(entry.sha256)}`);
    if (!single && head.Metadata?.sha256 !== entry.sha256) throw new Error(`s3 object ${key} lost its sha256 metadata`);
  }

  /**
   * Uploads the backup in `dir` (every file the manifest lists), verifies each object, then
   * writes the manifest last. Returns the number of bytes uploaded.
   */
  async upload(dir: string, manifest: BackupManifest, onBytes?: (bytes: number) => void): Promise<number> {
    if (manifest.status !== 'complete') throw new Error(`backup ${manifest.id} is not complete`);
    let bytes = 0;
    for (const c of manifest.collections) {
      for (const entry of [c.bson, c.metadata]) {
        await this.putFile(path.join(dir, entry.path), this.keyOf(manifest.id, entry.path), entry);
        bytes += entry.bytes;
        onBytes?.(bytes);
      }
    }
    await this.putManifest(manifest);
    return bytes;
  }

  /** Writes (or replaces, e.g. with a verification result) the manifest object. */
  async putManifest(manifest: BackupManifest): Promise<void> {
    const body = Buffer.from(JSON.stringify(manifest, null, 2));
    const sha256 = createHash('sha256').update(body).digest('hex');
    await this.retry(`put manifest ${manifest.id}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(manifest.id, MANIFEST),
          Body: body,
          ContentType: 'application/json',
          ChecksumSHA256: hexToBase64(sha256),
          ...this.protection(),
        }),
      ),
    );
  }

  private async listKeys(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const keys: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const page = await this.retry(`list ${prefix}`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: this.deps.listPageSize ?? 1000,
          }),
        ),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push({ key: o.Key, size: o.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  private async readManifest(id: string): Promise<BackupManifest | null> {
    try {
      const out = await this.retry(`get manifest ${id}`, () =>
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(id, MANIFEST) })),
      );
      return JSON.parse(
        await (out.Body as { transformToString(): Promise<string> }).transformToString(),
      ) as BackupManifest;
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return null;
      throw err;
    }
  }

  private async lockOf(id: string): Promise<Date | undefined> {
    const head = await this.retry(`head manifest ${id}`, () =>
      this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(id, MANIFEST) })),
    );
    return head.ObjectLockRetainUntilDate;
  }

  /** Complete backups in the bucket (those whose manifest was uploaded), oldest first. */
  async list(): Promise<RemoteBackup[]> {
    const manifests = (await this.listKeys(this.prefix)).filter((k) => k.key.endsWith(`/${MANIFEST}`));
    const out: RemoteBackup[] = [];
    for (const { key } of manifests) {
      const id = key.slice(this.prefix.length, -(MANIFEST.length + 1));
      if (id.includes('/')) continue;
      const manifest = await this.readManifest(id);
      if (!manifest || manifest.status !== 'complete' || manifest.id !== id) continue;
      out.push({ manifest, lockedUntil: this.deps.config.objectLock ? await this.lockOf(id) : undefined });
    }
    return out.sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt));
  }

  async get(id: string): Promise<BackupManifest | null> {
    const m = await this.readManifest(id);
    return m && m.status === 'complete' ? m : null;
  }

  /** Downloads a complete backup into `<root>/<id>` (through a temporary directory renamed at the end). */
  async download(id: string, root: string): Promise<string> {
    const manifest = await this.get(id);
    if (!manifest) throw new Error(`backup ${id} is not in S3`);
    const target = path.join(root, id);
    const tmp = path.join(root, `.download-${id}-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    const objectPrefix = this.keyOf(id, '');
    try {
      for (const { key } of await this.listKeys(objectPrefix)) {
        const rel = key.slice(objectPrefix.length);
        const file = path.join(tmp, rel);
        if (!file.startsWith(tmp + path.sep)) throw new Error(`refusing object key ${key} outside the backup`);
        await mkdir(path.dirname(file), { recursive: true });
        await this.retry(`get ${key}`, async () => {
          const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
          await pipeline(out.Body as Readable, createWriteStream(file));
        });
      }
      await rm(target, { recursive: true, force: true });
      await rename(tmp, target);
      return target;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Deletes every version of every object of a backup, the manifest first (so a half-deleted
   * backup is no longer listed). An object-locked backup is left alone and reported.
   */
  async delete(id: string): Promise<S3DeleteResult> {
    const lockedUntil = await this.lockOf(id).catch(() => undefined);
    if (lockedUntil && lockedUntil.getTime() > this.now().getTime()) return { deleted: false, lockedUntil };
    const versions = await this.versionsOf(this.keyOf(id, MANIFEST));
    await this.deleteVersions(versions.filter((v) => v.Key === this.keyOf(id, MANIFEST)));
    await this.deleteVersions(await this.versionsOf(this.keyOf(id, '')));
    return { deleted: true };
  }

  private async versionsOf(prefix: string): Promise<Array<{ Key: string; VersionId?: string }>> {
    const out: Array<{ Key: string; VersionId?: string }> = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const page = await this.retry(`list versions ${prefix}`, () =>
        this.client.send(
          new ListObjectVersionsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            VersionIdMarker: versionMarker,
          }),
        ),
      );
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])])
        if (v.Key) out.push({ Key: v.Key, VersionId: v.VersionId });
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return out;
  }

  private async deleteVersions(objects: Array<{ Key: string; VersionId?: string }>): Promise<void> {
    for (let i = 0; i < objects.length; i += 1000) {
      const batch = objects.slice(i, i + 1000);
      const out = await this.retry('delete objects', () =>
        this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } })),
      );
      if (out.Errors?.length)
        throw new Error(`s3 refused to delete ${out.Errors.map((e) => `${e.Key}: ${e.Code}`).join(', ')}`);
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
