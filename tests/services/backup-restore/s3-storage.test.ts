import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectRetentionCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createLogger } from '../../../src/lib/logger';
import { S3Storage, type S3StorageConfig } from '../../../src/services/backup-restore/s3-storage';
import { writeFixtureBackup } from '../../support/backup-dir-fixture';
import { startVersitygw, VERSITYGW_ACCESS_KEY, VERSITYGW_SECRET_KEY, type VersityPeer } from '../../support/versitygw';

const logger = createLogger({ level: 'silent' });

describe('S3Storage against a real S3 server (versitygw)', () => {
  let peer: VersityPeer;
  let root: string;
  const config = (bucket: string, extra: Partial<S3StorageConfig> = {}): S3StorageConfig => ({
    bucket,
    prefix: 'backups',
    region: 'us-east-1',
    endpoint: peer.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: VERSITYGW_ACCESS_KEY, secretAccessKey: VERSITYGW_SECRET_KEY },
    sse: 'AES256',
    ...extra,
  });

  beforeAll(async () => {
    peer = await startVersitygw();
    root = await mkdtemp(path.join(tmpdir(), 's3-storage-'));
  }, 120_000);
  afterAll(async () => {
    await peer?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('when a backup is uploaded, then every object has the manifest size and SHA-256, it is listed, and downloads byte for byte', async () => {
    await peer.createBucket('plain');
    const s3 = new S3Storage({ config: config('plain'), logger });
    const manifest = await writeFixtureBackup(root, 'b-upload', { collections: { users: 1000, invoices: 300_000 } });
    const bytes = await s3.upload(path.join(root, 'b-upload'), manifest);
    expect(bytes).toBe(manifest.totals.bytes);
    const head = await peer.client.send(
      new HeadObjectCommand({
        Bucket: 'plain',
        Key: 'backups/b-upload/dump/erp/invoices.bson.gz',
        ChecksumMode: 'ENABLED',
      }),
    );
    expect(head.ContentLength).toBe(300_000);
    expect(head.ChecksumSHA256).toBe(Buffer.from(manifest.collections[1].bson.sha256, 'hex').toString('base64'));
    expect((await s3.list()).map((b) => b.manifest.id)).toEqual(['b-upload']);

    const restoreRoot = await mkdtemp(path.join(tmpdir(), 's3-download-'));
    const dir = await s3.download('b-upload', restoreRoot);
    for (const c of manifest.collections) {
      const data = await readFile(path.join(dir, c.bson.path));
      expect(createHash('sha256').update(data).digest('hex')).toBe(c.bson.sha256);
    }
    expect(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'))).toMatchObject({ id: 'b-upload' });
    await rm(restoreRoot, { recursive: true, force: true });
    s3.destroy();
  });

  it('when an upload is interrupted before the manifest, then the backup is not listed; when a file does not match its checksum, then S3 refuses it', async () => {
    await peer.createBucket('partial');
    const s3 = new S3Storage({ config: config('partial'), logger, attempts: 1 });
    const manifest = await writeFixtureBackup(root, 'b-partial');
    // a data file arrives, the process dies before the manifest
    const entry = manifest.collections[0].bson;
    await peer.client.send(
      new PutObjectCommand({
        Bucket: 'partial',
        Key: `backups/b-partial/${entry.path}`,
        Body: await readFile(path.join(root, 'b-partial', entry.path)),
      }),
    );
    expect(await s3.list()).toEqual([]);
    expect(await s3.get('b-partial')).toBeNull();
    // a manifest that lies about a file: the server-side SHA-256 check refuses the upload, no manifest is written
    const lying = structuredClone(manifest);
    lying.collections[1].bson.sha256 = 'ab'.repeat(32);
    await expect(s3.upload(path.join(root, 'b-partial'), lying)).rejects.toThrow();
    expect(await s3.list()).toEqual([]);
    s3.destroy();
  });

  it('when more backups exist than one list page holds, then all of them are listed (ListObjectsV2 paging)', async () => {
    await peer.createBucket('paged');
    // 12 backups x 3 objects = 36 keys in pages of 5: without paging at most 2 manifests would be seen
    const s3 = new S3Storage({ config: config('paged'), logger, listPageSize: 5 });
    const ids = Array.from({ length: 12 }, (_, i) => `b-page-${String(i).padStart(2, '0')}`);
    for (const id of ids)
      await s3.upload(path.join(root, id), await writeFixtureBackup(root, id, { collections: { a: 10 } }));
    expect((await s3.list()).map((b) => b.manifest.id)).toEqual(ids);
    s3.destroy();
  });

  it('when a file is above the multipart threshold, then it goes up as a streamed multipart upload with per-part SHA-256 and is verified', async () => {
    await peer.createBucket('multipart');
    const s3 = new S3Storage({ config: config('multipart'), logger, multipartThresholdBytes: 1024 * 1024 });
    const manifest = await writeFixtureBackup(root, 'b-multi', { collections: { big: 17 * 1024 * 1024 } });
    await s3.upload(path.join(root, 'b-multi'), manifest);
    const head = await peer.client.send(
      new HeadObjectCommand({
        Bucket: 'multipart',
        Key: 'backups/b-multi/dump/erp/big.bson.gz',
        ChecksumMode: 'ENABLED',
      }),
    );
    expect(head.ContentLength).toBe(17 * 1024 * 1024);
    expect(head.Metadata?.sha256).toBe(manifest.collections[0].bson.sha256);
    const back = await mkdtemp(path.join(tmpdir(), 's3-multi-'));
    const dir = await s3.download('b-multi', back);
    const data = await readFile(path.join(dir, 'dump/erp/big.bson.gz'));
    expect(createHash('sha256').update(data).digest('hex')).toBe(manifest.collections[0].bson.sha256);
    await rm(back, { recursive: true, force: true });
    s3.destroy();
  });

  it('when Object Lock is configured, then uploads carry a retention and deleting a locked backup is refused and reported', async () => {
    await peer.createBucket('locked', { objectLock: true });
    const s3 = new S3Storage({ config: config('locked', { objectLock: { days: 2, mode: 'GOVERNANCE' } }), logger });
    const manifest = await writeFixtureBackup(root, 'b-locked', { collections: { a: 100 } });
    await s3.upload(path.join(root, 'b-locked'), manifest);
    const retention = await peer.client.send(
      new GetObjectRetentionCommand({ Bucket: 'locked', Key: 'backups/b-locked/manifest.json' }),
    );
    expect(retention.Retention?.Mode).toBe('GOVERNANCE');
    const listed = await s3.list();
    expect(listed[0].lockedUntil!.getTime()).toBeGreaterThan(Date.now() + 86_400_000);
    const result = await s3.delete('b-locked');
    expect(result.deleted).toBe(false);
    expect(result.lockedUntil).toEqual(listed[0].lockedUntil);
    expect((await s3.list()).map((b) => b.manifest.id)).toEqual(['b-locked']);
    s3.destroy();
  });

  it('when an unlocked backup is deleted, then it is no longer listed and its objects are gone', async () => {
    await peer.createBucket('prune');
    const s3 = new S3Storage({ config: config('prune'), logger });
    await s3.upload(path.join(root, 'b-prune'), await writeFixtureBackup(root, 'b-prune', { collections: { a: 100 } }));
    expect(await s3.delete('b-prune')).toEqual({ deleted: true });
    expect(await s3.list()).toEqual([]);
    await expect(
      peer.client.send(new HeadObjectCommand({ Bucket: 'prune', Key: 'backups/b-prune/dump/erp/a.bson.gz' })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    s3.destroy();
  });

  it('when the S3 server is unreachable at first, then the upload is retried with growing backoff and succeeds once it is back', async () => {
    await peer.createBucket('flaky');
    const port = peer.port;
    const dataDir = peer.dataDir;
    await peer.stop({ keepData: true });
    const delays: number[] = [];
    const s3 = new S3Storage({
      config: config('flaky', { endpoint: `http://127.0.0.1:${port}` }),
      logger,
      attempts: 4,
      sleep: async (ms) => {
        delays.push(ms);
        // the server comes back during the second backoff
        if (delays.length === 2) peer = await startVersitygw({ port, dataDir });
      },
    });
    const manifest = await writeFixtureBackup(root, 'b-flaky', { collections: { a: 100 } });
    await s3.upload(path.join(root, 'b-flaky'), manifest);
    expect(delays).toEqual([200, 400]);
    expect((await s3.list()).map((b) => b.manifest.id)).toEqual(['b-flaky']);
    s3.destroy();
  });
});
