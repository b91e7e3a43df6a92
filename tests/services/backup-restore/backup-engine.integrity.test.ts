import { cpSync, existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import type { BackupManifest } from '../../../src/services/backup-restore/backup.types';
import { seededBackupWorld, tempDir, type SeededBackupWorld } from '../../support/backup-fixtures';
import { runTs, waitFor } from '../../support/process';
import { mongoServerUrl } from '../../support/mongo-tools';

let world: SeededBackupWorld;
let root: string;
let manifest: BackupManifest;

beforeAll(async () => {
  world = await seededBackupWorld(__filename, { documents: 60, tempPrefix: 'backup-integrity' });
  root = world.root;
  manifest = await world.engine().create({ id: 'good', kind: 'daily', root });
});

afterAll(() => world.close());

/** A copy of the good backup with one byte of one file flipped. */
async function corruptedCopy(name: string, file: string, at: (size: number) => number): Promise<string> {
  const dir = path.join(root, name);
  cpSync(path.join(root, 'good'), dir, { recursive: true });
  const abs = path.join(dir, file);
  const bytes = await fs.readFile(abs);
  bytes[at(bytes.length)]! ^= 0x01;
  await fs.writeFile(abs, bytes);
  return dir;
}

describe('BackupEngine integrity: corrupted files and interrupted backups', () => {
  it('when any one byte of any backup file is changed, then verification names the file and restore refuses, writing nothing', async () => {
    const files = manifest.collections.flatMap((c) => [c.bson.path, c.metadata.path]);
    expect(files).toHaveLength(6);
    let n = 0;
    for (const file of files) {
      for (const at of [() => 0, (size: number) => Math.floor(size / 2), (size: number) => size - 1]) {
        const dir = await corruptedCopy(`bad-${n++}`, file, at);
        const record = await world.engine().verifyChecksums(dir);
        expect(record.ok).toBe(false);
        expect(record.problems).toEqual([`${file}: SHA-256 differs from manifest`]);
        const target = world.otherDb(`bad${n}`);
        await expect(world.engine().restore(dir, { toDb: target })).rejects.toMatchObject({
          code: 'backup-verification-failed',
          extensions: { problems: record.problems },
        });
        expect(await world.client.db(target).listCollections().toArray()).toEqual([]);
        const byRestore = await world.engine().verifyByRestore(dir, world.otherDb('scratch'));
        expect(byRestore).toMatchObject({ ok: false, method: 'restore' });
        await fs.rm(dir, { recursive: true });
      }
    }
  });

  it('when a file is truncated, removed, or the manifest points outside the backup, then verification or reading fails', async () => {
    const truncated = path.join(root, 'truncated');
    cpSync(path.join(root, 'good'), truncated, { recursive: true });
    const bson = manifest.collections[1]!.bson;
    await fs.truncate(path.join(truncated, bson.path), bson.bytes - 10);
    expect((await world.engine().verifyChecksums(truncated)).problems).toEqual([
      `${bson.path}: size ${bson.bytes - 10} differs from manifest ${bson.bytes}`,
    ]);
    await fs.rm(path.join(truncated, bson.path));
    expect((await world.engine().verifyChecksums(truncated)).problems).toEqual([`${bson.path}: missing`]);

    const escaping = path.join(root, 'escaping');
    cpSync(path.join(root, 'good'), escaping, { recursive: true });
    const evil = {
      ...manifest,
      collections: [{ ...manifest.collections[0]!, bson: { ...bson, path: '../good/manifest.json' } }],
    };
    await fs.writeFile(path.join(escaping, 'manifest.json'), JSON.stringify(evil));
    await expect(world.engine().verifyChecksums(escaping)).rejects.toMatchObject({ code: 'backup-manifest-invalid' });
    await expect(world.engine().restore(escaping, { toDb: world.otherDb('escaping') })).rejects.toMatchObject({
      code: 'backup-manifest-invalid',
    });
  });

  it('when the backup process is killed after its first collection, then no complete-looking backup exists and a rerun succeeds', async () => {
    const crashRoot = tempDir('backup-crash');
    try {
      const child = runTs('tests/services/backup-restore/support/backup-child.ts', {
        TEST_MONGODB_URL: mongoServerUrl(),
        BACKUP_DB: world.dbName,
        BACKUP_ROOT: crashRoot,
        BACKUP_ID: 'crashed',
      });
      await waitFor(
        () => child.stdout().includes('FIRST_COLLECTION_DONE'),
        60_000,
        'the first collection to be dumped',
      );
      child.child.kill('SIGKILL');
      expect(await child.exited).toBeNull();

      const left = readdirSync(crashRoot);
      expect(left).toEqual(['.tmp-crashed']);
      expect(existsSync(path.join(crashRoot, '.tmp-crashed', 'manifest.json'))).toBe(false);
      await expect(world.engine().readManifest(path.join(crashRoot, 'crashed'))).rejects.toMatchObject({ status: 404 });
      await expect(
        world.engine().restore(path.join(crashRoot, 'crashed'), { toDb: world.otherDb('crashed') }),
      ).rejects.toMatchObject({
        status: 404,
      });

      const rerun = await world.engine().create({ id: 'crashed', kind: 'daily', root: crashRoot });
      expect(rerun.status).toBe('complete');
      expect(readdirSync(crashRoot)).toEqual(['crashed']);
      expect((await world.engine().verifyChecksums(path.join(crashRoot, 'crashed'))).ok).toBe(true);
    } finally {
      await fs.rm(crashRoot, { recursive: true, force: true });
    }
  });
});
