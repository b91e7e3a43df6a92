import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BackupFileEntry, BackupKind, BackupManifest } from '../../src/services/backup-restore/backup.types';

/**
 * Writes a complete-looking backup directory with real files and their real sizes and
 * SHA-256 in the manifest: for tests of what moves backups around (S3, retention), which
 * do not care what the bytes mean. Tests of the format use the engine.
 */
export async function writeFixtureBackup(
  root: string,
  id: string,
  opts: { kind?: BackupKind; at?: Date; collections?: Record<string, number>; verified?: boolean } = {},
): Promise<BackupManifest> {
  const dir = path.join(root, id);
  const at = (opts.at ?? new Date()).toISOString();
  const collections = [];
  for (const [name, size] of Object.entries(opts.collections ?? { users: 2048, invoices: 70_000 })) {
    const file = async (rel: string, bytes: number): Promise<BackupFileEntry> => {
      const data = randomBytes(bytes);
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), data);
      return { path: rel, bytes, sha256: createHash('sha256').update(data).digest('hex') };
    };
    collections.push({
      db: 'erp',
      collection: name,
      documents: 10,
      digest: 'd'.repeat(64),
      bson: await file(`dump/erp/${name}.bson.gz`, size),
      metadata: await file(`dump/erp/${name}.metadata.json.gz`, 100),
    });
  }
  const manifest: BackupManifest = {
    formatVersion: 1,
    id,
    kind: opts.kind ?? 'manual',
    status: 'complete',
    startedAt: at,
    finishedAt: at,
    serverVersion: '7.0.0',
    appVersion: 'test',
    databases: ['erp'],
    collections,
    totals: {
      documents: collections.length * 10,
      bytes: collections.reduce((n, c) => n + c.bson.bytes + c.metadata.bytes, 0),
    },
    ...(opts.verified === undefined
      ? {}
      : { verification: { at, ok: opts.verified, method: 'restore' as const, problems: [] } }),
  };
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return manifest;
}
